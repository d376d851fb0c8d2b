//! [`KubernetesState`]: what the fake API server holds, as a state file writes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The namespace objects without one land in, and the default of
/// [`KubernetesState::namespace`].
pub const DEFAULT_NAMESPACE: &str = "default";
/// The default service account (Juju names the application's after the application).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// Juju's placeholder port on a new application Service (spec/juju-runtime.md §4.1).
pub const PLACEHOLDER_PORT: u16 = 65535;

/// The Kubernetes side of a harness state: trust, and the objects the API server holds.
///
/// Objects are Kubernetes-shaped JSON (`apiVersion`, `kind`, `metadata`, ...): a state file
/// lists them as it would for `kubectl apply`. Missing `metadata.namespace`, `uid`,
/// `resourceVersion` and `creationTimestamp` are filled in when the server starts, as the API
/// server would have set them. Served kinds: `v1` ConfigMap and Service, `apps/v1` StatefulSet.
///
/// ```json
/// {"trusted": false, "namespace": "iam", "serviceAccount": "oathkeeper",
///  "objects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KubernetesState {
    /// Whether the application is trusted (`juju deploy --trust` or `juju trust`). Untrusted,
    /// RBAC answers 403 to everything except what Juju's default Role allows (get, list and
    /// patch Services). **Defaults to false**, as Juju deploys untrusted unless told otherwise.
    pub trusted: bool,
    /// The model's namespace.
    pub namespace: String,
    /// The service account the charm runs as (Juju: the application name), shown in 403s.
    pub service_account: String,
    /// The objects, sorted by kind, namespace and name in a snapshot.
    pub objects: Vec<Value>,
    /// The last resourceVersion handed out; every write increments it.
    pub resource_version: u64,
}

impl Default for KubernetesState {
    fn default() -> Self {
        Self {
            trusted: false,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            service_account: DEFAULT_SERVICE_ACCOUNT.to_owned(),
            objects: Vec::new(),
            resource_version: 0,
        }
    }
}

impl KubernetesState {
    /// What Juju creates for application `app` in model `model` (spec/juju-runtime.md §4.1):
    /// the namespace, service account `app`, StatefulSet `app` with one container per name in
    /// `containers` plus `charm`, and Service `app` with the placeholder port. Untrusted, as
    /// Juju deploys: add `.trusted(true)` for `juju deploy --trust`.
    pub fn juju_application(model: &str, app: &str, containers: &[&str]) -> Self {
        let mut names = vec!["charm"];
        names.extend_from_slice(containers);
        let pod_containers: Vec<Value> = names
            .iter()
            .map(|c| json!({"name": c, "image": format!("{c}-image")}))
            .collect();
        let labels = json!({"app.kubernetes.io/name": app});
        Self {
            namespace: model.to_owned(),
            service_account: app.to_owned(),
            ..Self::default()
        }
        .with_object(json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": app, "labels": labels},
            "spec": {
                "replicas": 1,
                "serviceName": format!("{app}-endpoints"),
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"serviceAccountName": app, "containers": pod_containers},
                },
            },
        }))
        .with_object(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": app, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "placeholder", "port": PLACEHOLDER_PORT, "protocol": "TCP", "targetPort": PLACEHOLDER_PORT}],
            },
        }))
    }

    /// This state with `trusted` set.
    pub fn trusted(mut self, trusted: bool) -> Self {
        self.trusted = trusted;
        self
    }

    /// This state with one more object.
    pub fn with_object(mut self, object: Value) -> Self {
        self.objects.push(object);
        self
    }

    /// This state with ConfigMap `name` holding `data`.
    pub fn with_config_map(self, name: &str, data: &[(&str, &str)]) -> Self {
        let data: BTreeMap<&str, &str> = data.iter().copied().collect();
        self.with_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}))
    }

    /// The object of `kind` named `name` in the state's namespace.
    pub fn object(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects.iter().find(|o| {
            o.get("kind").and_then(Value::as_str) == Some(kind)
                && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                && o.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .is_none_or(|ns| ns == self.namespace)
        })
    }

    /// ConfigMap `name`.
    pub fn config_map(&self, name: &str) -> Option<&Value> {
        self.object("ConfigMap", name)
    }

    /// The `data` of ConfigMap `name` (empty if it has none), or `None` if it does not exist.
    pub fn config_map_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let object = self.config_map(name)?;
        Some(
            object
                .get("data")
                .and_then(Value::as_object)
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// StatefulSet `name`.
    pub fn stateful_set(&self, name: &str) -> Option<&Value> {
        self.object("StatefulSet", name)
    }

    /// Service `name`.
    pub fn service(&self, name: &str) -> Option<&Value> {
        self.object("Service", name)
    }
}
