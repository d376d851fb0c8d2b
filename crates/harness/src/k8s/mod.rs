//! A fake Kubernetes API server on loopback (spec/juju-runtime.md §4), and kubelet's
//! ConfigMap volume layout for end-to-end tests.
//!
//! Start with [`FakeApiServer::start`] over a [`KubernetesState`] (e.g.
//! [`KubernetesState::juju_application`]), point the charm at it with
//! [`FakeApiServer::write_kubeconfig`] and `KUBECONFIG`, then read the resulting
//! [`FakeApiServer::state`] and [`FakeApiServer::requests`].
//!
//! What it serves, as the real API server does:
//! - core/v1 ConfigMaps: get, list, watch, create, replace (PUT), patch, delete;
//!   core/v1 Services and apps/v1 StatefulSets: the same verbs.
//! - Patches by Content-Type: JSON merge, strategic merge (lists of containers, volumes,
//!   volumeMounts, env and ports merged by their keys), JSON patch, and server-side apply
//!   with `fieldManager`, `force`, create-if-missing and `metadata.managedFields`.
//! - `resourceVersion` bumped on every write that changes something; stale preconditions are
//!   409 Conflict; errors carry the API server's `Status` bodies and texts.
//! - Watches (`?watch=1`): `resourceVersion`, `allowWatchBookmarks`, `timeoutSeconds`,
//!   `sendInitialEvents`, field and label selectors; 410 Expired after [`FakeApiServer::compact`].
//! - Untrusted: 403 with RBAC's message for everything Juju's default Role does not grant
//!   (it grants get, list and patch on Services).
//! - Bodies in JSON, YAML, or protobuf for ConfigMaps (kubectl's `create configmap`);
//!   `dryRun=All` validates without storing.
//! - Discovery (`/version`, `/api`, `/apis`, `/api/v1/namespaces/<ns>`) and an OpenAPI v3
//!   index of operations (no object schemas: kubectl then uses its built-in types), which is
//!   all kubectl 1.32 needs for get, create, apply (client-side and `--server-side`), replace,
//!   patch, label, delete and `get -w`, with validation on.
//!
//! It is not a cluster: no pods, no controllers, no admission, no authentication, no
//! server-side tables (kubectl prints NAME and AGE only), no `limit`/`continue` paging.
//!
//! [`ConfigMapMount`] (from [`FakeApiServer::mount_config_map`]) plays kubelet for end-to-end
//! tests: it materialises a ConfigMap into a directory with kubelet's `..data` symlink swap
//! ([`write_atomic`]) and follows the server's changes.

mod discovery;
mod fields;
mod mount;
mod patch;
mod protobuf;
mod resource;
mod server;
mod state;
mod status;
mod store;
mod tls;

pub use mount::{
    ConfigMapMount, DATA_LINK, DATA_TMP_LINK, MountError, config_map_files, write_atomic,
};
pub use server::{FakeApiServer, ServerError};
pub use state::{DEFAULT_NAMESPACE, DEFAULT_SERVICE_ACCOUNT, KubernetesState, PLACEHOLDER_PORT};
pub use store::{LoadError, RequestRecord};
pub use tls::CLUSTER_CA_PEM;

#[cfg(test)]
mod tests;
