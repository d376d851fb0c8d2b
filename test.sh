#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then checks
# formatting and lints, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")"

# System packages the tests use: the real reverse proxies of the end-to-end suite (the tests
# start their own instances on free loopback ports). Installed only when missing.
packages=(caddy nginx)
if ((${#packages[@]})); then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# Python ops (from PyPI), for the harness's fidelity test: a real ops charm runs under it.
OPS_VERSION=3.9.0
venv=target/ops-venv
if ! "$venv/bin/python" -c "import ops, sys; sys.exit(ops.__version__ != '$OPS_VERSION')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "ops==$OPS_VERSION"
fi
export OPS_PYTHON="$PWD/$venv/bin/python"

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
cargo test --workspace --locked
