//! The object store behind the fake API server: the verbs, resourceVersion, field ownership,
//! validation, and the event history watches replay.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast};

use super::fields;
use super::patch;
use super::resource::{self, Resource};
use super::state::KubernetesState;
use super::status::Failure;

/// How many events a watch can resume from before its resourceVersion is too old (410).
pub(crate) const HISTORY_LIMIT: usize = 1000;

/// One request the fake API server answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// URL query, without `?` (empty if none).
    pub query: String,
    /// HTTP status answered.
    pub status: u16,
}

/// Where an object lives: resource plural, namespace, name.
type Key = (&'static str, String, String);

/// A change, as a watch reports it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The resourceVersion of the write.
    pub(crate) resource_version: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub(crate) kind: &'static str,
    /// The resource plural.
    pub(crate) resource: &'static str,
    /// The object after the change (before it, with the new resourceVersion, for DELETED).
    pub(crate) object: Value,
}

/// How a PATCH body applies, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml`
    Apply,
}

impl PatchKind {
    /// The patch kind of a Content-Type header value.
    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// `labelSelector` and `fieldSelector` of a list or watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    fields: Vec<(String, bool, String)>,
    labels: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

impl Selector {
    /// Parse the selectors; unknown field selectors are a 400, as on the real server.
    pub(crate) fn parse(
        field_selector: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Self, Failure> {
        let mut selector = Self::default();
        for term in field_selector
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let (field, negate, value) = split_requirement(term).ok_or_else(|| {
                Failure::bad_request(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                ))
            })?;
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(Failure::bad_request(format!(
                    "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                )));
            }
            selector.fields.push((field, negate, value));
        }
        for term in label_selector
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let requirement = match split_requirement(term) {
                Some((key, false, value)) => LabelRequirement::Equals(key, value),
                Some((key, true, value)) => LabelRequirement::NotEquals(key, value),
                None => match term.strip_prefix('!') {
                    Some(key) => LabelRequirement::NotExists(key.trim().to_owned()),
                    None => LabelRequirement::Exists(term.trim().to_owned()),
                },
            };
            selector.labels.push(requirement);
        }
        Ok(selector)
    }

    /// Whether `object` matches.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let meta = |k: &str| {
            object
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let fields_match = self.fields.iter().all(|(field, negate, value)| {
            let actual = meta(field.trim_start_matches("metadata."));
            (actual == *value) != *negate
        });
        let label = |k: &str| {
            object
                .pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let labels_match = self.labels.iter().all(|r| match r {
            LabelRequirement::Equals(k, v) => label(k).as_deref() == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => label(k).as_deref() != Some(v.as_str()),
            LabelRequirement::Exists(k) => label(k).is_some(),
            LabelRequirement::NotExists(k) => label(k).is_none(),
        });
        fields_match && labels_match
    }
}

fn split_requirement(term: &str) -> Option<(String, bool, String)> {
    for (op, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = term.split_once(op) {
            return Some((k.trim().to_owned(), negate, v.trim().to_owned()));
        }
    }
    None
}

/// The store. One per fake server, behind an async mutex.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) trusted: bool,
    pub(crate) namespace: String,
    pub(crate) service_account: String,
    objects: BTreeMap<Key, Value>,
    resource_version: u64,
    history: VecDeque<Event>,
    /// Watches must start at or after this resourceVersion.
    oldest: u64,
    events: broadcast::Sender<Event>,
    pub(crate) log: Vec<RequestRecord>,
    /// Set for a `dryRun=All` request: writes are computed and validated, not stored.
    pub(crate) dry_run: bool,
}

/// Why a state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An object of a kind the fake API server does not serve.
    #[error(
        "object {index} has unsupported apiVersion/kind {api_version:?}/{kind:?} (served: v1 ConfigMap, v1 Service, apps/v1 StatefulSet)"
    )]
    UnsupportedKind {
        /// Position in `objects`.
        index: usize,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// An object without `metadata.name`.
    #[error("object {index} ({kind}) has no metadata.name")]
    MissingName {
        /// Position in `objects`.
        index: usize,
        /// Its kind.
        kind: String,
    },
}

impl Store {
    /// A store holding `state`, filling in what the API server would have set.
    pub(crate) fn load(state: KubernetesState) -> Result<Self, LoadError> {
        let KubernetesState {
            trusted,
            namespace: default_namespace,
            service_account,
            objects,
            resource_version,
        } = state;
        let (events, _) = broadcast::channel(HISTORY_LIMIT);
        let mut store = Self {
            trusted,
            namespace: default_namespace,
            service_account,
            objects: BTreeMap::new(),
            resource_version,
            history: VecDeque::new(),
            oldest: 0,
            events,
            log: Vec::new(),
            dry_run: false,
        };
        let now = now_rfc3339();
        for (index, mut object) in objects.into_iter().enumerate() {
            let text = |k: &str| {
                object
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let resource =
                Resource::from_kind(&text("apiVersion"), &text("kind")).ok_or_else(|| {
                    LoadError::UnsupportedKind {
                        index,
                        api_version: text("apiVersion"),
                        kind: text("kind"),
                    }
                })?;
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError::MissingName {
                    index,
                    kind: text("kind"),
                })?
                .to_owned();
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&store.namespace)
                .to_owned();
            let given_version = object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<u64>().ok());
            let version = match given_version {
                Some(v) => v,
                None => {
                    store.resource_version += 1;
                    store.resource_version
                }
            };
            store.resource_version = store.resource_version.max(version);
            default_object(resource, &mut object);
            let meta = metadata(&mut object);
            meta.insert("namespace".into(), json!(namespace));
            meta.insert("resourceVersion".into(), json!(version.to_string()));
            meta.entry("uid").or_insert_with(|| json!(new_uid()));
            meta.entry("creationTimestamp")
                .or_insert_with(|| json!(now));
            if resource.plural == resource::STATEFUL_SETS.plural {
                meta.entry("generation").or_insert(json!(1));
            }
            store
                .objects
                .insert((resource.plural, namespace, name), object);
        }
        store.oldest = store.resource_version;
        Ok(store)
    }

    /// The state the store holds now.
    pub(crate) fn snapshot(&self) -> KubernetesState {
        KubernetesState {
            trusted: self.trusted,
            namespace: self.namespace.clone(),
            service_account: self.service_account.clone(),
            objects: self.objects.values().cloned().collect(),
            resource_version: self.resource_version,
        }
    }

    /// A receiver of every later event.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Whether namespace `name` exists: the model's, or one holding objects.
    pub(crate) fn has_namespace(&self, name: &str) -> bool {
        name == self.namespace || self.objects.keys().any(|(_, ns, _)| ns == name)
    }

    /// The current resourceVersion.
    pub(crate) fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Forget the event history: a watch from any earlier resourceVersion gets 410 Expired.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.oldest = self.resource_version;
    }

    /// The events after `since`, or a 410 if they are no longer known.
    pub(crate) fn events_since(&self, since: u64) -> Result<Vec<Event>, Failure> {
        if since < self.oldest {
            return Err(Failure::expired(since, self.oldest));
        }
        Ok(self
            .history
            .iter()
            .filter(|e| e.resource_version > since)
            .cloned()
            .collect())
    }

    /// The objects of `resource` in `namespace` (all namespaces: `None`) matching `selector`.
    pub(crate) fn matching(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((plural, ns, _), object)| {
                *plural == resource.plural
                    && namespace.is_none_or(|n| n == ns)
                    && selector.matches(object)
            })
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// GET one object.
    pub(crate) fn get(
        &self,
        resource: &Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Failure> {
        self.objects
            .get(&(resource.plural, namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| Failure::not_found(resource, name))
    }

    /// GET a collection: a `<Kind>List`.
    pub(crate) fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Value {
        let items: Vec<Value> = self
            .matching(resource, namespace, selector)
            .into_iter()
            .map(|mut o| {
                if let Value::Object(map) = &mut o {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                o
            })
            .collect();
        json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": self.resource_version.to_string()},
            "items": items,
        })
    }

    /// POST: create an object.
    pub(crate) fn create(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        body: Value,
        manager: &str,
    ) -> Result<Value, Failure> {
        let mut object = check_body(resource, body)?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        check_namespace(&object, namespace)?;
        if self
            .objects
            .contains_key(&(resource.plural, namespace.to_owned(), name.clone()))
        {
            return Err(Failure::already_exists(resource, &name));
        }
        let meta = metadata(&mut object);
        meta.remove("resourceVersion");
        meta.remove("uid");
        meta.remove("creationTimestamp");
        meta.remove("managedFields");
        default_object(resource, &mut object);
        fields::track_update(None, &mut object, manager, resource, &now_rfc3339());
        validate(resource, &name, &object)?;
        Ok(self.commit(resource, namespace, &name, None, object))
    }

    /// PUT: replace an object, honouring a `metadata.resourceVersion` precondition.
    pub(crate) fn replace(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        body: Value,
        manager: &str,
    ) -> Result<Value, Failure> {
        let mut object = check_body(resource, body)?;
        check_name(&object, name)?;
        check_namespace(&object, namespace)?;
        let old = self.get(resource, namespace, name)?;
        check_resource_version(resource, name, &object, &old)?;
        if object.pointer("/metadata/managedFields").is_none()
            && let Some(managed) = old.pointer("/metadata/managedFields")
        {
            metadata(&mut object).insert("managedFields".into(), managed.clone());
        }
        default_object(resource, &mut object);
        fields::track_update(Some(&old), &mut object, manager, resource, &now_rfc3339());
        validate(resource, name, &object)?;
        Ok(self.commit(resource, namespace, name, Some(&old), object))
    }

    /// PATCH: apply a patch of `kind`; server-side apply creates a missing object (201).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn patch(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        manager: &str,
        force: bool,
    ) -> Result<(u16, Value), Failure> {
        let old = self
            .objects
            .get(&(resource.plural, namespace.to_owned(), name.to_owned()))
            .cloned();
        let now = now_rfc3339();
        let mut object = match (kind, &old) {
            (PatchKind::Apply, _) => {
                let applied = check_body(resource, body.clone())?;
                check_name(&applied, name)?;
                check_namespace(&applied, namespace)?;
                if !force && manager.is_empty() {
                    return Err(Failure::bad_request(
                        "PATCH requests with application/apply-patch+yaml require a fieldManager"
                            .into(),
                    ));
                }
                let mut applied = applied;
                default_object(resource, &mut applied);
                fields::apply(old.as_ref(), &applied, manager, force, resource, name, &now)?
            }
            (_, None) => return Err(Failure::not_found(resource, name)),
            (PatchKind::Merge, Some(old)) => {
                let mut object = old.clone();
                if !body.is_object() {
                    return Err(Failure::bad_request(
                        "the body of the merge patch must be a JSON object".into(),
                    ));
                }
                patch::merge_patch(&mut object, body);
                object
            }
            (PatchKind::Strategic, Some(old)) => {
                let mut object = old.clone();
                patch::strategic_merge_patch(&mut object, body).map_err(Failure::bad_request)?;
                object
            }
            (PatchKind::Json, Some(old)) => {
                let mut object = old.clone();
                patch::json_patch(&mut object, body).map_err(Failure::unprocessable)?;
                object
            }
        };
        if let Some(old) = &old {
            check_resource_version(resource, name, &object, old)?;
            check_name(&object, name)?;
        }
        if kind != PatchKind::Apply {
            default_object(resource, &mut object);
            fields::track_update(old.as_ref(), &mut object, manager, resource, &now);
        }
        validate(resource, name, &object)?;
        let status = if old.is_some() { 200 } else { 201 };
        Ok((
            status,
            self.commit(resource, namespace, name, old.as_ref(), object),
        ))
    }

    /// DELETE: remove an object; answers the `Success` Status the API server sends.
    pub(crate) fn delete(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Value, Failure> {
        let key = (resource.plural, namespace.to_owned(), name.to_owned());
        if self.dry_run {
            self.get(resource, namespace, name)?;
            return Ok(
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": name, "kind": resource.plural}}),
            );
        }
        let mut object = self
            .objects
            .remove(&key)
            .ok_or_else(|| Failure::not_found(resource, name))?;
        self.resource_version += 1;
        metadata(&mut object).insert(
            "resourceVersion".into(),
            json!(self.resource_version.to_string()),
        );
        let uid = object
            .pointer("/metadata/uid")
            .cloned()
            .unwrap_or(Value::Null);
        self.emit("DELETED", resource, object);
        let mut details = json!({"name": name, "kind": resource.plural, "uid": uid});
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
        )
    }

    /// Store `object` unless it equals `old` (a no-op write keeps the resourceVersion, as on
    /// the real server), bumping the resourceVersion and telling the watches.
    fn commit(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        old: Option<&Value>,
        mut object: Value,
    ) -> Value {
        if let Some(old) = old
            && comparable(old) == comparable(&object)
        {
            return old.clone();
        }
        if self.dry_run {
            return object;
        }
        let now = now_rfc3339();
        let generation_changes = resource.plural == resource::STATEFUL_SETS.plural
            && old.is_none_or(|o| o.get("spec") != object.get("spec"));
        let old_generation = old
            .and_then(|o| o.pointer("/metadata/generation"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        self.resource_version += 1;
        let version = self.resource_version;
        if let Value::Object(map) = &mut object {
            map.insert("apiVersion".into(), json!(resource.api_version()));
            map.insert("kind".into(), json!(resource.kind));
        }
        let meta = metadata(&mut object);
        meta.insert("name".into(), json!(name));
        meta.insert("namespace".into(), json!(namespace));
        meta.insert("resourceVersion".into(), json!(version.to_string()));
        match old {
            Some(old) => {
                for key in ["uid", "creationTimestamp"] {
                    if let Some(v) = old.pointer(&format!("/metadata/{key}")) {
                        meta.insert(key.into(), v.clone());
                    }
                }
            }
            None => {
                meta.insert("uid".into(), json!(new_uid()));
                meta.insert("creationTimestamp".into(), json!(now));
            }
        }
        if generation_changes {
            meta.insert("generation".into(), json!(old_generation + 1));
        } else if resource.plural == resource::STATEFUL_SETS.plural {
            meta.insert("generation".into(), json!(old_generation.max(1)));
        }
        self.objects.insert(
            (resource.plural, namespace.to_owned(), name.to_owned()),
            object.clone(),
        );
        self.emit(
            if old.is_some() { "MODIFIED" } else { "ADDED" },
            resource,
            object.clone(),
        );
        object
    }

    fn emit(&mut self, kind: &'static str, resource: &'static Resource, object: Value) {
        let event = Event {
            resource_version: self.resource_version,
            kind,
            resource: resource.plural,
            object,
        };
        if self.history.len() == HISTORY_LIMIT
            && let Some(dropped) = self.history.pop_front()
        {
            self.oldest = dropped.resource_version;
        }
        self.history.push_back(event.clone());
        // No receiver is fine: nobody watches.
        let _ = self.events.send(event);
    }
}

/// An object without what a no-op write may change (resourceVersion, managedFields times).
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("resourceVersion");
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            for entry in entries {
                if let Value::Object(entry) = entry {
                    entry.remove("time");
                }
            }
        }
    }
    object
}

fn metadata(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    // invariant: `object` and its `metadata` were made objects just above.
    #[allow(clippy::expect_used)]
    object["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// A request body must be an object of the URL's kind (if it names one).
fn check_body(resource: &Resource, body: Value) -> Result<Value, Failure> {
    if !body.is_object() {
        return Err(Failure::bad_request(format!(
            "{} in version \"v1\" cannot be handled as a {}: the body is not a JSON object",
            resource.kind, resource.kind
        )));
    }
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(resource.kind);
    let api_version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(resource.api_version());
    if kind != resource.kind || api_version != resource.api_version() {
        return Err(Failure::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version()
        )));
    }
    Ok(body)
}

fn check_name(object: &Value, name: &str) -> Result<(), Failure> {
    match object.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n != name => Err(Failure::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

/// A write's `metadata.resourceVersion` precondition: when set, it must be `old`'s (409).
fn check_resource_version(
    resource: &Resource,
    name: &str,
    object: &Value,
    old: &Value,
) -> Result<(), Failure> {
    fn version(object: &Value) -> &str {
        object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    let precondition = version(object);
    if !precondition.is_empty() && precondition != version(old) {
        return Err(Failure::stale(resource, name));
    }
    Ok(())
}

fn check_namespace(object: &Value, namespace: &str) -> Result<(), Failure> {
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(Failure::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        )),
        _ => Ok(()),
    }
}

const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const CONFIG_KEY_MESSAGE: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn is_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.starts_with(alnum)
                && label.ends_with(alnum)
                && label.chars().all(|c| alnum(c) || c == '-')
        })
}

fn is_dns1035_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The API server's validation, for the fields we know.
fn validate(resource: &Resource, name: &str, object: &Value) -> Result<(), Failure> {
    let mut causes: Vec<(&str, String, String)> = Vec::new();
    if name.is_empty() {
        causes.push((
            "FieldValueRequired",
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if resource.plural == resource::SERVICES.plural {
        if !is_dns1035_label(name) {
            causes.push((
                "FieldValueInvalid",
                "metadata.name".into(),
                format!("Invalid value: \"{name}\": {LABEL_1035_MESSAGE}"),
            ));
        }
    } else if !is_subdomain(name) {
        causes.push((
            "FieldValueInvalid",
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": {SUBDOMAIN_MESSAGE}"),
        ));
    }
    if resource.plural == resource::CONFIG_MAPS.plural {
        for field in ["data", "binaryData"] {
            match object.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::Object(map)) => {
                    for (key, value) in map {
                        let key_ok = !key.is_empty()
                            && key.len() <= 253
                            && key
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                            && key != "."
                            && key != "..";
                        if !key_ok {
                            causes.push((
                                "FieldValueInvalid",
                                format!("{field}[{key}]"),
                                format!("Invalid value: \"{key}\": {CONFIG_KEY_MESSAGE}"),
                            ));
                        }
                        if !value.is_string() {
                            return Err(Failure::bad_request(format!(
                                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal {} into Go struct field ConfigMap.{field} of type string",
                                json_type(value)
                            )));
                        }
                    }
                }
                Some(other) => {
                    return Err(Failure::bad_request(format!(
                        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal {} into Go struct field ConfigMap.{field} of type map[string]string",
                        json_type(other)
                    )));
                }
            }
        }
    }
    if resource.plural == resource::SERVICES.plural
        && let Some(Value::Array(ports)) = object.pointer("/spec/ports")
    {
        {
            for (i, port) in ports.iter().enumerate() {
                match port.get("port").and_then(Value::as_u64) {
                    Some(1..=65535) => {}
                    Some(p) => causes.push((
                        "FieldValueInvalid",
                        format!("spec.ports[{i}].port"),
                        format!("Invalid value: {p}: must be between 1 and 65535, inclusive"),
                    )),
                    None => causes.push((
                        "FieldValueRequired",
                        format!("spec.ports[{i}].port"),
                        "Required value".into(),
                    )),
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Failure::invalid(resource, name, &causes))
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The defaults the API server fills in for the fields charms read back: Service port
/// protocol and targetPort, container port protocol.
fn default_object(resource: &Resource, object: &mut Value) {
    if resource.plural == resource::SERVICES.plural
        && let Some(Value::Array(ports)) = object.pointer_mut("/spec/ports")
    {
        {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.entry("protocol").or_insert(json!("TCP"));
                if let Some(p) = port.get("port").cloned() {
                    port.entry("targetPort").or_insert(p);
                }
            }
        }
    }
    if resource.plural == resource::STATEFUL_SETS.plural
        && let Some(Value::Array(containers)) = object.pointer_mut("/spec/template/spec/containers")
    {
        {
            for container in containers {
                if let Some(Value::Array(ports)) = container.get_mut("ports") {
                    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                        port.entry("protocol").or_insert(json!("TCP"));
                    }
                }
            }
        }
    }
}

/// A random RFC 4122-shaped UID.
fn new_uid() -> String {
    let random = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        hasher.finish()
    };
    let (a, b) = (random(1), random(2));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The store as the API server and the ConfigMap mounts share it.
pub(crate) type SharedStore = std::sync::Arc<Mutex<Store>>;

/// The store's namespace, a snapshot of ConfigMap `name`'s object in it, and a receiver for
/// later events (what a mount syncer starts from).
pub(crate) async fn config_map_and_events(
    store: &SharedStore,
    name: &str,
) -> (String, Option<Value>, broadcast::Receiver<Event>) {
    let store = store.lock().await;
    let namespace = store.namespace.clone();
    let object = store.get(&resource::CONFIG_MAPS, &namespace, name).ok();
    (namespace, object, store.subscribe())
}

/// Now as RFC 3339 UTC to the second, as the API server writes timestamps.
pub(crate) fn now_rfc3339() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}
