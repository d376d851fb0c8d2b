//! What the charm sees of its pod besides Juju: the service-account files Kubernetes mounts,
//! the `KUBERNETES_SERVICE_*` variables, the pod's hostname and `/etc/hosts`.
//!
//! Every run lays out a pod root under its scratch directory:
//!
//! - `var/run/secrets/kubernetes.io/serviceaccount/{namespace,token,ca.crt}`: the model's
//!   namespace, a dummy token, the fake cluster's CA (when the harness started the API);
//! - `etc/hosts`: what kubelet writes for a StatefulSet pod with a headless service,
//!   `<address> <app>-<n>.<app>-endpoints.<model>.svc.cluster.local <app>-<n>`.
//!
//! Clients read these at fixed paths (lightkube's and kube's in-cluster configs read
//! `/var/run/secrets/...`; Python's `socket.getfqdn()` asks the resolver, which reads
//! `/etc/hosts`). So when it can (as root, with util-linux `unshare`), the harness runs the
//! charm in its own mount and UTS namespaces, as a container runtime does: a private writable
//! overlay on `/run` with the service-account directory bind-mounted at its real path,
//! `/etc/hosts` bind-mounted from the pod root, and the hostname set to `<app>-<n>`. Nothing
//! changes outside the namespace. Otherwise the charm runs on the host: `$HOSTNAME` is the
//! pod's name but `gethostname()` is the machine's, the files are only under
//! `$HARNESS_POD_ROOT`, and in-cluster clients fall back to `$KUBECONFIG` as they do outside
//! a cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the service-account files are in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Set to the pod root when the charm runs without namespaces.
pub const POD_ROOT_ENV: &str = "HARNESS_POD_ROOT";
/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// Mounts the pod's files at their paths and sets the hostname, then execs the charm.
/// `$1` pod root, `$2` hostname, `$3...` the command. `-n`: no utab entries on the host.
const SETUP: &str = r#"set -e
root=$1 host=$2
shift 2
mount -n -t tmpfs pod-run "$root/ns"
mkdir "$root/ns/upper" "$root/ns/work"
mount -n -t overlay pod-run -o "lowerdir=/run,upperdir=$root/ns/upper,workdir=$root/ns/work" /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
mount -n --bind -o ro "$root/var/run/secrets/kubernetes.io/serviceaccount" /run/secrets/kubernetes.io/serviceaccount
mount -n --bind "$root/etc/hosts" /etc/hosts
hostname "$host"
exec "$@"
"#;

/// One run's pod.
#[derive(Debug, Clone)]
pub struct Pod {
    /// The pod root.
    pub root: PathBuf,
    /// `<app>-<n>`.
    pub hostname: String,
    /// `<app>-<n>.<app>-endpoints.<model>.svc.cluster.local`.
    pub fqdn: String,
}

impl Pod {
    /// Lays out the pod root under `scratch` for unit `<app>/<n>` in `model` at `address`.
    pub fn new(
        scratch: &Path,
        app: &str,
        unit: u32,
        model: &str,
        address: &str,
    ) -> std::io::Result<Pod> {
        let root = scratch.join("pod");
        let hostname = format!("{app}-{unit}");
        let fqdn = format!("{hostname}.{app}-endpoints.{model}.svc.{CLUSTER_DOMAIN}");
        std::fs::create_dir_all(root.join("etc"))?;
        std::fs::create_dir_all(root.join("ns"))?;
        std::fs::create_dir_all(root.join(SERVICE_ACCOUNT_DIR.trim_start_matches('/')))?;
        std::fs::write(
            root.join("etc/hosts"),
            format!(
                "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n\
                 ::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
                 fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n\
                 {address}\t{fqdn}\t{hostname}\n"
            ),
        )?;
        Ok(Pod {
            root,
            hostname,
            fqdn,
        })
    }

    /// The service-account directory under the pod root.
    pub fn service_account_dir(&self) -> PathBuf {
        self.root.join(SERVICE_ACCOUNT_DIR.trim_start_matches('/'))
    }

    /// `program` run inside the pod's namespaces.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--uts", "--propagation", "private", "--"])
            .args(["/bin/sh", "-c", SETUP, "pod-setup"])
            .arg(&self.root)
            .arg(&self.hostname)
            .arg(program);
        command
    }
}

/// The variables Kubernetes gives every container for the API server's Service, pointing at
/// the fake server's HTTPS port.
pub fn service_env(https: SocketAddr) -> Vec<(String, String)> {
    let (host, port) = (https.ip().to_string(), https.port().to_string());
    vec![
        ("KUBERNETES_SERVICE_HOST".to_owned(), host),
        ("KUBERNETES_SERVICE_PORT".to_owned(), port.clone()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".to_owned(), port),
        ("KUBERNETES_PORT".to_owned(), format!("tcp://{https}")),
    ]
}

/// Whether the charm can run in its own mount and UTS namespaces here (checked once).
pub fn namespaces_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("unshare")
            .args(["--mount", "--uts", "--", "/bin/sh", "-c"])
            .arg("mount -n -t tmpfs probe /tmp && hostname probe")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}
