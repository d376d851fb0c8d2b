//! Kubernetes access for a charm (spec/juju-runtime.md §4): ConfigMaps, the application's
//! StatefulSet and Service, in the model's namespace, as the application's service account.
//!
//! A [`Kubernetes`] handle wraps a `kube` client (rustls, no OpenSSL) with the namespace (= the
//! model name) and the field manager (= the application name) every write uses. Which API server
//! it talks to is decided once, in [`Kubernetes::connect`]:
//!
//! 1. [`KUBECONFIG`] set and non-empty in the hook environment: that kubeconfig file (its
//!    current context). The harness sets it to point charms at its fake API server.
//! 2. Otherwise the in-cluster config, as in every Juju sidecar pod: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
//!    with the service account token and CA under `/var/run/secrets/kubernetes.io/serviceaccount/`.
//!
//! `~/.kube/config` is never read (unlike `kube::Config::infer`), so a stray file in the charm
//! container cannot redirect the charm.
//!
//! Every answer the charm must act on is a typed [`Error`]: a 403 becomes [`Error::NotTrusted`],
//! whose message tells the operator to run `juju trust`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServicePort};
use kube::api::{DeleteParams, Patch as KubePatch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{Value, json};

use crate::env::Source;

pub use k8s_openapi;

/// Environment variable naming a kubeconfig file to use instead of the in-cluster config.
pub const KUBECONFIG: &str = "KUBECONFIG";
/// The label Juju puts on everything it creates for an application, and which the Service
/// selects pods by.
pub const APP_NAME_LABEL: &str = "app.kubernetes.io/name";
/// The label the Python charm puts on its ConfigMaps (spec/charm-parity.md §4.7).
pub const JUJU_APP_NAME_LABEL: &str = "juju-app-name";
/// The `managed-by` label the Python charm puts on its ConfigMaps.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_JUJU: &str = "juju";
/// The kind names used in errors.
const CONFIG_MAPS: &str = "configmaps";
const STATEFUL_SETS: &str = "statefulsets";
const SERVICES: &str = "services";

/// Why a Kubernetes call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API server answered 403: the application is not trusted with cluster access.
    #[error(
        "{message}; run `juju trust {app} --scope=cluster` to give the application access to the Kubernetes API"
    )]
    NotTrusted {
        /// The application (and service account) name.
        app: String,
        /// The API server's message.
        message: String,
    },
    /// The object does not exist (404).
    #[error("{resource} \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        /// The resource, plural (`configmaps`).
        resource: &'static str,
        /// The object name.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The write conflicts with the object's current state (409: already exists, stale
    /// resourceVersion, or a server-side apply field conflict).
    #[error("conflict on {resource} \"{name}\": {message}")]
    Conflict {
        /// The resource, plural.
        resource: &'static str,
        /// The object name.
        name: String,
        /// The API server's message.
        message: String,
    },
    /// Any other error status from the API server.
    #[error("kubernetes API error {code} {reason} on {resource} \"{name}\": {message}")]
    Api {
        /// The HTTP status code.
        code: u16,
        /// The Status reason (`Invalid`, `BadRequest`, ...).
        reason: String,
        /// The API server's message.
        message: String,
        /// The resource, plural.
        resource: &'static str,
        /// The object name.
        name: String,
    },
    /// The API server cannot be reached (connection refused, TLS, timeout).
    #[error("cannot reach the kubernetes API: {source}")]
    Unreachable {
        /// The transport error.
        #[source]
        source: kube::Error,
    },
    /// No usable configuration: no kubeconfig and not in a pod.
    #[error("cannot configure the kubernetes client from {origin}: {message}")]
    Config {
        /// The kubeconfig path, or `in-cluster config`.
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// The API server answered something the client could not read.
    #[error("unexpected answer from the kubernetes API: {source}")]
    Protocol {
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// One ConfigMap mounted into a container by [`config_map_mounts_patch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapMount {
    /// The pod volume name (`config`).
    pub volume: String,
    /// The ConfigMap it shows (`oathkeeper-config`).
    pub config_map: String,
    /// Where the container sees it (`/etc/config/oathkeeper`). Mounted read-only.
    pub mount_path: String,
}

/// A patch body and how the API server should apply it.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// `application/strategic-merge-patch+json`: lists with a merge key (containers and volumes
    /// by `name`, volumeMounts by `mountPath`) merge item by item.
    Strategic(Value),
    /// `application/merge-patch+json` (RFC 7386): lists are replaced whole.
    Merge(Value),
    /// Server-side apply (`application/apply-patch+yaml`) with the application as field
    /// manager, forced: the body is the full intent of this manager (with apiVersion and kind).
    Apply(Value),
}

/// The strategic-merge patch that mounts ConfigMaps read-only into container `container` of a
/// StatefulSet's pod template (spec/charm-parity.md §4.6). Applying it twice changes nothing.
pub fn config_map_mounts_patch(container: &str, mounts: &[ConfigMapMount]) -> Value {
    let volume_mounts: Vec<Value> = mounts
        .iter()
        .map(|m| json!({"mountPath": m.mount_path, "name": m.volume, "readOnly": true}))
        .collect();
    let volumes: Vec<Value> = mounts
        .iter()
        .map(|m| json!({"name": m.volume, "configMap": {"name": m.config_map}}))
        .collect();
    json!({
        "spec": {"template": {"spec": {
            "containers": [{"name": container, "volumeMounts": volume_mounts}],
            "volumes": volumes,
        }}}
    })
}

/// A Kubernetes API handle scoped to one namespace and one field manager.
///
/// Cheap to clone; all methods are async and need a tokio runtime.
#[derive(Clone)]
pub struct Kubernetes {
    client: Client,
    namespace: String,
    app: String,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubernetes")
            .field("namespace", &self.namespace)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Kubernetes {
    /// Connect the way a charm should: the kubeconfig named by [`KUBECONFIG`] in `source` if
    /// set and non-empty, else the in-cluster config. `namespace` is the model name, `app` the
    /// application name (field manager, and the service account in error messages).
    pub async fn connect(source: &dyn Source, namespace: &str, app: &str) -> Result<Self, Error> {
        match source.get(KUBECONFIG).filter(|p| !p.is_empty()) {
            Some(path) => Self::from_kubeconfig(Path::new(&path), namespace, app).await,
            None => Self::in_cluster(namespace, app),
        }
    }

    /// Connect with the pod's in-cluster config (service account token and CA).
    pub fn in_cluster(namespace: &str, app: &str) -> Result<Self, Error> {
        let config = Config::incluster().map_err(|e| Error::Config {
            origin: "in-cluster config".into(),
            message: e.to_string(),
        })?;
        Self::from_config(config, namespace, app, "in-cluster config")
    }

    /// Connect with the current context of the kubeconfig file at `path`.
    pub async fn from_kubeconfig(path: &Path, namespace: &str, app: &str) -> Result<Self, Error> {
        let origin = path.display().to_string();
        let config_error = |message: String| Error::Config {
            origin: origin.clone(),
            message,
        };
        let kubeconfig =
            Kubeconfig::read_from(PathBuf::from(path)).map_err(|e| config_error(e.to_string()))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| config_error(e.to_string()))?;
        Self::from_config(config, namespace, app, &origin)
    }

    /// Wrap a ready `kube` client (tests, or callers with their own config).
    pub fn from_client(client: Client, namespace: &str, app: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            app: app.to_owned(),
        }
    }

    fn from_config(
        config: Config,
        namespace: &str,
        app: &str,
        origin: &str,
    ) -> Result<Self, Error> {
        let client = Client::try_from(config).map_err(|e| Error::Config {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self::from_client(client, namespace, app))
    }

    /// The namespace every call addresses (the model name).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The application name: field manager of every write.
    pub fn app(&self) -> &str {
        &self.app
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// ConfigMap `name`, or `None` if it does not exist.
    pub async fn get_config_map(&self, name: &str) -> Result<Option<ConfigMap>, Error> {
        self.config_maps()
            .get_opt(name)
            .await
            .map_err(|e| self.error(e, CONFIG_MAPS, name))
    }

    /// Create `config_map` (its metadata.name is required). [`Error::Conflict`] if it exists.
    pub async fn create_config_map(&self, config_map: &ConfigMap) -> Result<ConfigMap, Error> {
        let name = config_map.metadata.name.clone().unwrap_or_default();
        let params = PostParams {
            field_manager: Some(self.app.clone()),
            ..PostParams::default()
        };
        self.config_maps()
            .create(&params, config_map)
            .await
            .map_err(|e| self.error(e, CONFIG_MAPS, &name))
    }

    /// Replace ConfigMap `name` with `config_map`. With `metadata.resourceVersion` set, the
    /// write fails with [`Error::Conflict`] if the object changed since it was read.
    pub async fn replace_config_map(
        &self,
        name: &str,
        config_map: &ConfigMap,
    ) -> Result<ConfigMap, Error> {
        let params = PostParams {
            field_manager: Some(self.app.clone()),
            ..PostParams::default()
        };
        self.config_maps()
            .replace(name, &params, config_map)
            .await
            .map_err(|e| self.error(e, CONFIG_MAPS, name))
    }

    /// Server-side apply ConfigMap `name` with exactly `data` and `labels` as this application's
    /// intent (field manager = app, forced): creates it if missing, drops keys this application
    /// applied before and no longer lists, keeps other managers' keys. Idempotent.
    pub async fn apply_config_map(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        data: &BTreeMap<String, String>,
    ) -> Result<ConfigMap, Error> {
        let mut metadata = json!({"name": name, "namespace": self.namespace});
        if !labels.is_empty() {
            metadata["labels"] = json!(labels);
        }
        let body =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data});
        self.config_maps()
            .patch(name, &self.apply_params(), &KubePatch::Apply(&body))
            .await
            .map_err(|e| self.error(e, CONFIG_MAPS, name))
    }

    /// Patch ConfigMap `name` with any [`Patch`] (a merge patch touches only the keys it
    /// names, so keys other writers added survive).
    pub async fn patch_config_map(&self, name: &str, patch: &Patch) -> Result<ConfigMap, Error> {
        self.patch(&self.config_maps(), name, patch, CONFIG_MAPS)
            .await
    }

    /// StatefulSet `name`, or `None` if it does not exist.
    pub async fn get_stateful_set(&self, name: &str) -> Result<Option<StatefulSet>, Error> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name)
            .await
            .map_err(|e| self.error(e, STATEFUL_SETS, name))
    }

    /// Service `name`, or `None` if it does not exist.
    pub async fn get_service(&self, name: &str) -> Result<Option<Service>, Error> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name)
            .await
            .map_err(|e| self.error(e, SERVICES, name))
    }

    /// Delete ConfigMap `name`. [`Error::NotFound`] if it does not exist.
    pub async fn delete_config_map(&self, name: &str) -> Result<(), Error> {
        self.config_maps()
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, CONFIG_MAPS, name))
    }

    /// Patch StatefulSet `name` (the application's is named after it), e.g. with
    /// [`config_map_mounts_patch`]. A pod-template change rolls the pods.
    pub async fn patch_stateful_set(
        &self,
        name: &str,
        patch: &Patch,
    ) -> Result<StatefulSet, Error> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), &self.namespace);
        self.patch(&api, name, patch, STATEFUL_SETS).await
    }

    /// Patch Service `name` with any [`Patch`].
    pub async fn patch_service(&self, name: &str, patch: &Patch) -> Result<Service, Error> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        self.patch(&api, name, patch, SERVICES).await
    }

    /// Server-side apply `ports` as this application's ports of Service `name` (spec §4.3).
    /// Ports other managers own (Juju's placeholder) stay unless `ports` takes them over.
    pub async fn apply_service_ports(
        &self,
        name: &str,
        ports: &[ServicePort],
    ) -> Result<Service, Error> {
        let body = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"ports": ports},
        });
        self.patch_service(name, &Patch::Apply(body)).await
    }

    async fn patch<K>(
        &self,
        api: &Api<K>,
        name: &str,
        patch: &Patch,
        resource: &'static str,
    ) -> Result<K, Error>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let result = match patch {
            Patch::Strategic(body) => {
                api.patch(name, &self.update_params(), &KubePatch::Strategic(body))
                    .await
            }
            Patch::Merge(body) => {
                api.patch(name, &self.update_params(), &KubePatch::Merge(body))
                    .await
            }
            Patch::Apply(body) => {
                api.patch(name, &self.apply_params(), &KubePatch::Apply(body))
                    .await
            }
        };
        result.map_err(|e| self.error(e, resource, name))
    }

    fn apply_params(&self) -> PatchParams {
        PatchParams::apply(&self.app).force()
    }

    fn update_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.app.clone()),
            ..PatchParams::default()
        }
    }

    fn error(&self, error: kube::Error, resource: &'static str, name: &str) -> Error {
        classify(error, resource, name, &self.namespace, &self.app)
    }
}

/// Map a `kube` error onto ours.
fn classify(
    error: kube::Error,
    resource: &'static str,
    name: &str,
    namespace: &str,
    app: &str,
) -> Error {
    match error {
        kube::Error::Api(status) => match status.code {
            403 => Error::NotTrusted {
                app: app.to_owned(),
                message: status.message,
            },
            404 => Error::NotFound {
                resource,
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            },
            409 => Error::Conflict {
                resource,
                name: name.to_owned(),
                message: status.message,
            },
            code => Error::Api {
                code,
                reason: status.reason,
                message: status.message,
                resource,
                name: name.to_owned(),
            },
        },
        source @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            Error::Unreachable { source }
        }
        source => Error::Protocol { source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn forbidden_tells_the_operator_to_trust_the_app() {
        let message = r#"configmaps "x" is forbidden: User "system:serviceaccount:m:oathkeeper" cannot get resource "configmaps" in API group "" in the namespace "m""#;
        let error = classify(
            api_error(403, "Forbidden", message),
            CONFIG_MAPS,
            "x",
            "m",
            "oathkeeper",
        );
        assert!(matches!(error, Error::NotTrusted { ref app, .. } if app == "oathkeeper"));
        let text = error.to_string();
        assert!(text.starts_with(message), "{text}");
        assert!(
            text.contains("juju trust oathkeeper --scope=cluster"),
            "{text}"
        );
    }

    #[test]
    fn status_codes_map_to_variants() {
        let e = classify(
            api_error(404, "NotFound", "nope"),
            CONFIG_MAPS,
            "x",
            "m",
            "a",
        );
        assert_eq!(
            e.to_string(),
            r#"configmaps "x" not found in namespace "m""#
        );
        let e = classify(
            api_error(409, "AlreadyExists", "exists"),
            CONFIG_MAPS,
            "x",
            "m",
            "a",
        );
        assert!(matches!(e, Error::Conflict { .. }));
        let e = classify(api_error(422, "Invalid", "bad"), CONFIG_MAPS, "x", "m", "a");
        assert!(matches!(e, Error::Api { code: 422, ref reason, .. } if reason == "Invalid"));
    }

    #[test]
    fn mounts_patch_matches_the_python_charm() {
        let patch = config_map_mounts_patch(
            "oathkeeper",
            &[
                ConfigMapMount {
                    volume: "config".into(),
                    config_map: "oathkeeper-config".into(),
                    mount_path: "/etc/config/oathkeeper".into(),
                },
                ConfigMapMount {
                    volume: "access-rules".into(),
                    config_map: "access-rules".into(),
                    mount_path: "/etc/config/access-rules".into(),
                },
            ],
        );
        // spec/charm-parity.md §4.6
        let expected = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "oathkeeper", "volumeMounts": [
                {"mountPath": "/etc/config/oathkeeper", "name": "config", "readOnly": true},
                {"mountPath": "/etc/config/access-rules", "name": "access-rules", "readOnly": true},
            ]}],
            "volumes": [
                {"name": "config", "configMap": {"name": "oathkeeper-config"}},
                {"name": "access-rules", "configMap": {"name": "access-rules"}},
            ],
        }}}});
        assert_eq!(patch, expected);
    }

    #[tokio::test]
    async fn connect_without_kubeconfig_or_pod_is_a_config_error() {
        // No KUBECONFIG in the source; the test process is not in a pod (no
        // KUBERNETES_SERVICE_HOST), so the in-cluster config fails.
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            return;
        }
        let source = BTreeMap::<String, String>::new();
        let error = Kubernetes::connect(&source, "m", "a").await.unwrap_err();
        assert!(matches!(error, Error::Config { ref origin, .. } if origin == "in-cluster config"));
    }

    #[tokio::test]
    async fn connect_reads_the_kubeconfig_named_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n",
        )
        .unwrap();
        let source: BTreeMap<String, String> =
            [(KUBECONFIG.to_owned(), path.display().to_string())].into();
        let kube = Kubernetes::connect(&source, "m", "a").await.unwrap();
        assert_eq!(kube.namespace(), "m");
        // Port 1 refuses connections: the error is Unreachable, proving the kubeconfig was used.
        let error = kube.get_config_map("x").await.unwrap_err();
        assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    }
}
