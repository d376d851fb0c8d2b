//! Field ownership: `metadata.managedFields` (FieldsV1) and server-side apply.
//!
//! A field path is a list of FieldsV1 tokens (`f:data`, `f:a`, `k:{"name":"c"}`). Every write
//! records which manager set which leaf fields, as the API server does: an Update takes the
//! fields it changed away from the other managers; an Apply owns exactly the fields of its body,
//! conflicts with another manager holding a different value unless forced, and drops the
//! fields it applied before and no longer lists (unless another manager owns them too).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::patch::{key_value, list_keys, same_item};
use super::resource::Resource;
use super::status::Failure;

/// A field path of FieldsV1 tokens.
pub(crate) type Path = Vec<String>;

/// Metadata fields the server owns, never tracked.
const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Every leaf field of an object with its value; `None` marks an associative-list item.
pub(crate) fn leaves(object: &Value) -> BTreeMap<Path, Option<Value>> {
    let mut out = BTreeMap::new();
    if let Value::Object(map) = object {
        for (key, value) in map {
            if matches!(key.as_str(), "apiVersion" | "kind" | "status") {
                continue;
            }
            if key == "metadata" {
                if let Value::Object(meta) = value {
                    for (k, v) in meta {
                        if !UNTRACKED_METADATA.contains(&k.as_str()) {
                            walk_field(
                                k,
                                v,
                                &mut vec!["f:metadata".into()],
                                &mut vec!["metadata".into()],
                                &mut out,
                            );
                        }
                    }
                }
                continue;
            }
            walk_field(key, value, &mut Vec::new(), &mut Vec::new(), &mut out);
        }
    }
    out
}

fn walk_field(
    key: &str,
    value: &Value,
    path: &mut Path,
    context: &mut Vec<String>,
    out: &mut BTreeMap<Path, Option<Value>>,
) {
    path.push(format!("f:{key}"));
    context.push(key.to_owned());
    match (value, list_keys(context, key)) {
        (Value::Array(items), Some(keys)) if items.iter().all(Value::is_object) => {
            for item in items {
                path.push(item_token(item, keys));
                out.insert(path.clone(), None);
                walk_object(item, path, context, out);
                path.pop();
            }
        }
        (Value::Object(map), _) if !map.is_empty() => walk_object(value, path, context, out),
        _ => {
            out.insert(path.clone(), Some(value.clone()));
        }
    }
    context.pop();
    path.pop();
}

fn walk_object(
    value: &Value,
    path: &mut Path,
    context: &mut Vec<String>,
    out: &mut BTreeMap<Path, Option<Value>>,
) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            walk_field(k, v, path, context, out);
        }
    }
}

/// `k:{"name":"c"}`, keys in schema order (alphabetical for every list we know).
fn item_token(item: &Value, keys: &[&str]) -> String {
    let mut map = Map::new();
    for key in keys {
        map.insert((*key).to_owned(), key_value(item, key));
    }
    format!("k:{}", Value::Object(map))
}

/// A field set as the FieldsV1 trie. A path that is also a prefix of other paths (an
/// associative-list item) is marked with `"."`.
pub(crate) fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    fn build(paths: &[&[String]]) -> Map<String, Value> {
        let mut groups: BTreeMap<&str, (bool, Vec<&[String]>)> = BTreeMap::new();
        for path in paths {
            if let Some((first, rest)) = path.split_first() {
                let group = groups.entry(first.as_str()).or_default();
                if rest.is_empty() {
                    group.0 = true;
                } else {
                    group.1.push(rest);
                }
            }
        }
        groups
            .into_iter()
            .map(|(token, (itself, rests))| {
                let mut node = build(&rests);
                if itself && !node.is_empty() {
                    node.insert(".".into(), json!({}));
                }
                (token.to_owned(), Value::Object(node))
            })
            .collect()
    }
    let paths: Vec<&[String]> = set.iter().map(Vec::as_slice).collect();
    Value::Object(build(&paths))
}

/// A FieldsV1 trie as a field set.
pub(crate) fn from_fields_v1(value: &Value) -> BTreeSet<Path> {
    fn walk(node: &Map<String, Value>, path: &mut Path, out: &mut BTreeSet<Path>) {
        for (token, child) in node {
            if token == "." {
                continue;
            }
            path.push(token.clone());
            match child {
                Value::Object(map) if !map.is_empty() => {
                    if map.contains_key(".") {
                        out.insert(path.clone());
                    }
                    walk(map, path, out);
                }
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    if let Value::Object(map) = value {
        walk(map, &mut Vec::new(), &mut out);
    }
    out
}

/// `.data.a`, `.spec.ports[port=80,protocol="TCP"]`, as in conflict messages.
pub(crate) fn render(path: &Path) -> String {
    let mut out = String::new();
    for token in path {
        if let Some(field) = token.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = token.strip_prefix("k:") {
            let parsed: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    out
}

/// Remove the field at `path` (an item, for a `k:` path) from `object`.
fn remove_at(object: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = object;
    for token in parents {
        let next = match step_mut(node, token) {
            Some(next) => next,
            None => return,
        };
        node = next;
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Value::Object(map) = node {
            map.remove(field);
        }
    } else if let Some(key) = last.strip_prefix("k:") {
        let wanted: Value = serde_json::from_str(key).unwrap_or(Value::Null);
        if let (Value::Array(items), Value::Object(wanted)) = (node, &wanted) {
            let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
            let probe = Value::Object(wanted.clone());
            items.retain(|item| !same_item(item, &probe, &keys));
        }
    }
}

fn step_mut<'a>(node: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    if let Some(field) = token.strip_prefix("f:") {
        node.as_object_mut()?.get_mut(field)
    } else if let Some(key) = token.strip_prefix("k:") {
        let wanted: Value = serde_json::from_str(key).ok()?;
        let keys: Vec<String> = wanted.as_object()?.keys().cloned().collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        node.as_array_mut()?
            .iter_mut()
            .find(|item| same_item(item, &wanted, &keys))
    } else {
        None
    }
}

/// Merge an applied configuration into an object: maps recursively, associative lists item
/// by item, everything else replaced.
fn structured_merge(target: &mut Value, applied: &Value, context: &mut Vec<String>) {
    let (Value::Object(target), Value::Object(applied)) = (&mut *target, applied) else {
        *target = applied.clone();
        return;
    };
    for (key, value) in applied {
        if key == "managedFields" || value.is_null() {
            continue;
        }
        context.push(key.clone());
        let slot = target.entry(key.clone()).or_insert(Value::Null);
        match (value, list_keys(context, key)) {
            (Value::Array(items), Some(keys)) if slot.is_array() => {
                if let Value::Array(current) = slot {
                    for item in items {
                        match current.iter_mut().find(|c| same_item(c, item, keys)) {
                            Some(existing) => structured_merge(existing, item, context),
                            None => current.push(item.clone()),
                        }
                    }
                }
            }
            (Value::Object(_), _) if slot.is_object() => structured_merge(slot, value, context),
            _ => *slot = value.clone(),
        }
        context.pop();
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
}

fn read_entries(object: Option<&Value>) -> Vec<Entry> {
    let Some(Value::Array(list)) = object.and_then(|o| o.pointer("/metadata/managedFields")) else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: str_field(e, "manager"),
            operation: str_field(e, "operation"),
            api_version: str_field(e, "apiVersion"),
            time: str_field(e, "time"),
            fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

fn str_field(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn write_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            })
        })
        .collect();
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn entry_mut<'a>(
    entries: &'a mut Vec<Entry>,
    manager: &str,
    operation: &str,
    resource: &Resource,
    now: &str,
) -> &'a mut Entry {
    let index = match entries
        .iter()
        .position(|e| e.manager == manager && e.operation == operation)
    {
        Some(index) => index,
        None => {
            entries.push(Entry {
                manager: manager.to_owned(),
                operation: operation.to_owned(),
                api_version: resource.api_version().to_owned(),
                time: now.to_owned(),
                fields: BTreeSet::new(),
            });
            entries.len() - 1
        }
    };
    let entry = &mut entries[index];
    entry.time = now.to_owned();
    entry
}

/// Record an Update by `manager` that turned `old` into `new` (create: `old` is `None`).
/// A write that sets `metadata.managedFields` itself (kubectl's client-side-apply upgrade)
/// keeps what it set.
pub(crate) fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    resource: &Resource,
    now: &str,
) {
    let old_managed = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_managed = new.pointer("/metadata/managedFields");
    if new_managed.is_some() && new_managed != old_managed {
        return;
    }
    let mut entries = read_entries(old);
    let before = old.map(leaves).unwrap_or_default();
    let after = leaves(new);
    let changed: BTreeSet<Path> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let removed: BTreeSet<Path> = before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect();
    for entry in &mut entries {
        entry.fields.retain(|p| !removed.contains(p));
        if !(entry.manager == manager && entry.operation == "Update") {
            entry.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        entry_mut(&mut entries, manager, "Update", resource, now)
            .fields
            .extend(changed);
    }
    write_entries(new, &entries);
}

/// Server-side apply `applied` by `manager` onto `live` (`None`: create it).
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    resource: &Resource,
    name: &str,
    now: &str,
) -> Result<Value, Failure> {
    let mut object = match live {
        Some(live) => live.clone(),
        None => json!({
            "apiVersion": resource.api_version(),
            "kind": resource.kind,
            "metadata": applied.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    };
    let mut entries = read_entries(live);
    let wanted = leaves(applied);
    let current = leaves(&object);
    let mut conflicts = Vec::new();
    for entry in &mut entries {
        if entry.manager == manager && entry.operation == "Apply" {
            continue;
        }
        let clashing: Vec<Path> = entry
            .fields
            .iter()
            .filter(|p| match wanted.get(*p) {
                Some(Some(value)) => current.get(*p) != Some(&Some(value.clone())),
                _ => false,
            })
            .cloned()
            .collect();
        for path in clashing {
            if force {
                entry.fields.remove(&path);
            } else {
                conflicts.push((entry.manager.clone(), render(&path)));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(Failure::apply_conflicts(resource, name, &conflicts));
    }
    let previous = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: BTreeSet<Path> = entries
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply"))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    // Shallowest first: removing a list item removes its fields with it (they no longer
    // match by key afterwards, so they must not be removed one by one first).
    let mut dropped: Vec<&Path> = previous
        .iter()
        .filter(|p| !wanted.contains_key(*p) && !others.iter().any(|o| o.starts_with(p)))
        .collect();
    dropped.sort_by_key(|p| p.len());
    let mut removed: Vec<&Path> = Vec::new();
    for path in dropped {
        if removed.iter().any(|r| path.starts_with(r)) {
            continue;
        }
        remove_at(&mut object, path);
        removed.push(path);
    }
    let mut applied_body = applied.clone();
    if let Some(Value::Object(meta)) = applied_body.get_mut("metadata") {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    structured_merge(&mut object, &applied_body, &mut Vec::new());
    entry_mut(&mut entries, manager, "Apply", resource, now).fields = wanted.into_keys().collect();
    write_entries(&mut object, &entries);
    Ok(object)
}
