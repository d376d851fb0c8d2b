//! The three patch formats an API server applies without field ownership: JSON merge patch
//! (RFC 7386), strategic merge patch (for the fields charms and kubectl touch), and JSON patch
//! (RFC 6902). Server-side apply is in [`super::fields`].

use serde_json::{Map, Value};

/// The merge keys of the associative lists charms and kubectl touch, by field name and
/// context (the field names leading to the list). `None`: the list is atomic.
pub(crate) fn list_keys(context: &[String], field: &str) -> Option<&'static [&'static str]> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some(&["name"]),
        "volumeMounts" => Some(&["mountPath"]),
        "volumeDevices" => Some(&["devicePath"]),
        "ports" => {
            if context
                .iter()
                .any(|c| c == "containers" || c == "initContainers" || c == "ephemeralContainers")
            {
                Some(&["containerPort", "protocol"])
            } else {
                Some(&["port", "protocol"])
            }
        }
        _ => None,
    }
}

/// The value of merge key `key` of a list item; a missing `protocol` means TCP, as the
/// server defaults it.
pub(crate) fn key_value(item: &Value, key: &str) -> Value {
    match item.get(key) {
        Some(v) => v.clone(),
        None if key == "protocol" => Value::String("TCP".into()),
        None => Value::Null,
    }
}

/// Whether two list items have the same merge key values.
pub(crate) fn same_item(a: &Value, b: &Value, keys: &[&str]) -> bool {
    keys.iter().all(|k| key_value(a, k) == key_value(b, k))
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

const PATCH_DIRECTIVE: &str = "$patch";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const RETAIN_KEYS: &str = "$retainKeys";

/// Strategic merge patch: like a merge patch, except lists with merge keys merge item by item
/// (`$patch: delete` removes an item, `$patch: replace` replaces the list or map), and the
/// ordering and retain directives kubectl sends are honoured.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    if !patch.is_object() {
        return Err("strategic merge patch body must be a JSON object".into());
    }
    merge_object(target, patch, &mut Vec::new())
}

fn merge_object(
    target: &mut Value,
    patch: &Value,
    context: &mut Vec<String>,
) -> Result<(), String> {
    let Value::Object(patch) = patch else {
        *target = strip_directives(patch);
        return Ok(());
    };
    match patch.get(PATCH_DIRECTIVE).and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove(PATCH_DIRECTIVE);
            *target = strip_directives(&Value::Object(replaced));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some(other) => return Err(format!("unknown patch type: {other}")),
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(object) = target else {
        return Ok(());
    };
    if let Some(Value::Array(retain)) = patch.get(RETAIN_KEYS) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        object.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut orders = Vec::new();
    for (key, value) in patch {
        if key == RETAIN_KEYS || key == PATCH_DIRECTIVE {
            continue;
        }
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            orders.push((field.to_owned(), value));
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            if let (Some(Value::Array(list)), Value::Array(remove)) = (object.get_mut(field), value)
            {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if value.is_null() {
            object.remove(key);
            continue;
        }
        context.push(key.clone());
        let result = match (value, list_keys(context, key)) {
            (Value::Array(items), Some(keys)) => {
                let current = object
                    .entry(key.clone())
                    .or_insert(Value::Array(Vec::new()));
                merge_list(current, items, keys, context)
            }
            (Value::Object(_), _) => merge_object(
                object.entry(key.clone()).or_insert(Value::Null),
                value,
                context,
            ),
            _ => {
                object.insert(key.clone(), strip_directives(value));
                Ok(())
            }
        };
        context.pop();
        result?;
    }
    for (field, order) in orders {
        if let (Some(Value::Array(list)), Value::Array(order)) = (object.get_mut(&field), order) {
            let keys = list_keys(context, &field).unwrap_or(&[]);
            reorder(list, order, keys);
        }
    }
    Ok(())
}

fn merge_list(
    current: &mut Value,
    items: &[Value],
    keys: &[&str],
    context: &mut Vec<String>,
) -> Result<(), String> {
    if items
        .iter()
        .any(|i| i.get(PATCH_DIRECTIVE).and_then(Value::as_str) == Some("replace"))
    {
        let kept: Vec<Value> = items
            .iter()
            .filter(|i| i.get(PATCH_DIRECTIVE).is_none())
            .map(strip_directives)
            .collect();
        *current = Value::Array(kept);
        return Ok(());
    }
    if !current.is_array() {
        *current = Value::Array(Vec::new());
    }
    let Value::Array(list) = current else {
        return Ok(());
    };
    for item in items {
        if !item.is_object() {
            return Err(format!("list item {item} has no merge key {}", keys[0]));
        }
        let position = list
            .iter()
            .position(|existing| same_item(existing, item, keys));
        match (item.get(PATCH_DIRECTIVE).and_then(Value::as_str), position) {
            (Some("delete"), Some(index)) => {
                list.remove(index);
            }
            (Some("delete"), None) => {}
            (_, Some(index)) => merge_object(&mut list[index], item, context)?,
            (_, None) => list.push(strip_directives(item)),
        }
    }
    Ok(())
}

/// Order `list` as `order` lists items (by merge key, or by value for primitive lists);
/// items `order` does not name keep their relative order after the named ones.
fn reorder(list: &mut Vec<Value>, order: &[Value], keys: &[&str]) {
    let matches = |a: &Value, b: &Value| {
        if keys.is_empty() {
            a == b
        } else {
            same_item(a, b, keys)
        }
    };
    let mut ordered = Vec::with_capacity(list.len());
    for wanted in order {
        if let Some(index) = list.iter().position(|item| matches(item, wanted)) {
            ordered.push(list.remove(index));
        }
    }
    ordered.append(list);
    *list = ordered;
}

/// A value with every `$`-directive removed.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch. Errors carry the text the API server answers with (422).
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Array(operations) = patch else {
        return Err("json patch must be a JSON array of operations".into());
    };
    for operation in operations {
        let op = operation
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = operation
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing path in operation {operation}"))?;
        let value = || {
            operation
                .get("value")
                .cloned()
                .ok_or_else(|| format!("missing value in {op} operation"))
        };
        let from = || {
            operation
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("missing from in {op} operation"))
        };
        match op {
            "add" => add(target, path, value()?)?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value()?)?;
            }
            "move" => {
                let moved = remove(target, from()?)?;
                add(target, path, moved)?;
            }
            "copy" => {
                let copied = target
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| format!("copy from {} failed: missing", from().unwrap_or("")))?;
                add(target, path, copied)?;
            }
            "test" => {
                let expected = value()?;
                if target.pointer(path) != Some(&expected) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let index = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    let last = path[index + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..index].to_owned(), last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(list)) => {
            let index = if last == "-" {
                list.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| format!("invalid array index {last:?}"))?
            };
            if index > list.len() {
                return Err(format!("add operation index {index} out of bounds"));
            }
            list.insert(index, value);
            Ok(())
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\""
        )),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => map.remove(&last).ok_or_else(missing),
        Some(Value::Array(list)) => {
            let index = last.parse::<usize>().map_err(|_| missing())?;
            if index < list.len() {
                Ok(list.remove(index))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strategic_merge_honours_kubectls_directives() {
        let mut pod = json!({"containers": [
            {"name": "a", "args": ["x", "y"], "env": [{"name": "E", "value": "1"}]},
            {"name": "b"},
        ]});
        let patch = json!({
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{
                "name": "a",
                "$deleteFromPrimitiveList/args": ["x"],
                "env": [{"name": "E", "$patch": "delete"}, {"name": "F", "value": "2"}],
            }],
        });
        strategic_merge_patch(&mut pod, &patch).unwrap();
        assert_eq!(
            pod,
            json!({"containers": [{"name": "b"}, {"name": "a", "args": ["y"], "env": [{"name": "F", "value": "2"}]}]})
        );
        let replace = json!({"containers": [{"$patch": "replace"}, {"name": "c"}]});
        strategic_merge_patch(&mut pod, &replace).unwrap();
        assert_eq!(pod, json!({"containers": [{"name": "c"}]}));
    }

    #[test]
    fn strategic_merge_matches_service_ports_by_port_and_defaulted_protocol() {
        let mut spec = json!({"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]});
        strategic_merge_patch(
            &mut spec,
            &json!({"ports": [{"port": 80, "name": "web"}, {"port": 443}]}),
        )
        .unwrap();
        assert_eq!(
            spec,
            json!({"ports": [{"port": 80, "protocol": "TCP", "name": "web"}, {"port": 443}]})
        );
    }

    #[test]
    fn json_patch_moves_copies_and_escapes_pointers() {
        let mut doc = json!({"metadata": {"annotations": {"a/b": "1"}}, "list": [1, 2]});
        let ops = json!([
            {"op": "copy", "from": "/metadata/annotations/a~1b", "path": "/copied"},
            {"op": "move", "from": "/list/0", "path": "/list/-"},
            {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
        ]);
        json_patch(&mut doc, &ops).unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"annotations": {"a/b": "2"}}, "list": [2, 1], "copied": "1"})
        );
        let missing =
            json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).unwrap_err();
        assert_eq!(
            missing,
            "remove operation does not apply: doc is missing path: \"/nope\""
        );
    }

    #[test]
    fn merge_patch_replaces_lists_and_removes_nulls() {
        let mut doc = json!({"a": [1, 2], "b": {"c": 1, "d": 2}});
        merge_patch(&mut doc, &json!({"a": [3], "b": {"c": null}}));
        assert_eq!(doc, json!({"a": [3], "b": {"d": 2}}));
    }
}
