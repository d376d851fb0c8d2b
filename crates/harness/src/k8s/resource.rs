//! The resources the fake API server serves, and what discovery says about them.

/// A served resource type.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Resource {
    /// URL plural: `configmaps`.
    pub(crate) plural: &'static str,
    /// Singular name.
    pub(crate) singular: &'static str,
    /// `kind`: `ConfigMap`.
    pub(crate) kind: &'static str,
    /// API group; empty for core.
    pub(crate) group: &'static str,
    /// kubectl short names.
    pub(crate) short_names: &'static [&'static str],
    /// Verbs discovery advertises.
    pub(crate) verbs: &'static [&'static str],
    /// Verbs RBAC grants an untrusted application (spec/juju-runtime.md §4.1).
    pub(crate) untrusted_verbs: &'static [&'static str],
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// core/v1 ConfigMaps.
pub(crate) const CONFIG_MAPS: Resource = Resource {
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    group: "",
    short_names: &["cm"],
    verbs: ALL_VERBS,
    untrusted_verbs: &[],
};

/// core/v1 Services. Juju's default Role lets even an untrusted app get, list and patch them.
pub(crate) const SERVICES: Resource = Resource {
    plural: "services",
    singular: "service",
    kind: "Service",
    group: "",
    short_names: &["svc"],
    verbs: &[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ],
    untrusted_verbs: &["get", "list", "patch"],
};

/// apps/v1 StatefulSets.
pub(crate) const STATEFUL_SETS: Resource = Resource {
    plural: "statefulsets",
    singular: "statefulset",
    kind: "StatefulSet",
    group: "apps",
    short_names: &["sts"],
    verbs: ALL_VERBS,
    untrusted_verbs: &[],
};

/// Every served resource.
pub(crate) const ALL: [&Resource; 3] = [&CONFIG_MAPS, &SERVICES, &STATEFUL_SETS];

impl Resource {
    /// `v1` or `apps/v1`.
    pub(crate) fn api_version(&self) -> &'static str {
        if self.group.is_empty() {
            "v1"
        } else {
            "apps/v1"
        }
    }

    /// `configmaps` or `statefulsets.apps`, as in error messages.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The resource of a group and plural from a URL.
    pub(crate) fn from_path(group: &str, plural: &str) -> Option<&'static Resource> {
        ALL.into_iter()
            .find(|r| r.group == group && r.plural == plural)
    }

    /// The resource of an object's `apiVersion` and `kind`.
    pub(crate) fn from_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
        ALL.into_iter()
            .find(|r| r.api_version() == api_version && r.kind == kind)
    }

    /// Whether RBAC lets the application's service account use `verb` on this resource.
    pub(crate) fn allowed(&self, verb: &str, trusted: bool) -> bool {
        trusted || self.untrusted_verbs.contains(&verb)
    }
}
