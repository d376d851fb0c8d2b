//! The subset of GJSON paths Oathkeeper's session authenticators use for `subject_from` and
//! `extra_from`: dotted keys (`identity.id`), array indices (`friends.0`), `\.` for a literal
//! dot, `#` for an array's length, and the `@this` modifier for the whole document.

use serde_json::Value;

/// The value at `path` in `document`, or `None` when the path does not exist.
pub fn get<'a>(document: &'a Value, path: &str) -> Option<std::borrow::Cow<'a, Value>> {
    use std::borrow::Cow;
    if path == "@this" {
        return Some(Cow::Borrowed(document));
    }
    let mut current = document;
    let keys = split(path);
    for (i, key) in keys.iter().enumerate() {
        if key == "@this" {
            continue;
        }
        match current {
            Value::Object(map) => current = map.get(key.as_str())?,
            Value::Array(items) if key == "#" && i + 1 == keys.len() => {
                return Some(Cow::Owned(Value::from(items.len())));
            }
            Value::Array(items) => current = items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        }
    }
    Some(Cow::Borrowed(current))
}

/// Splits on unescaped dots; `\x` is a literal `x`.
fn split(path: &str) -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(key)) = (chars.next(), keys.last_mut()) {
                    key.push(next);
                }
            }
            '.' => keys.push(String::new()),
            other => {
                if let Some(key) = keys.last_mut() {
                    key.push(other);
                }
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_walk_objects_and_arrays() {
        let doc = json!({"identity": {"id": "u1", "traits": {"email": "a@b"}}, "list": [1, {"x": 2}], "a.b": 3});
        assert_eq!(get(&doc, "identity.id").unwrap().as_ref(), &json!("u1"));
        assert_eq!(
            get(&doc, "identity.traits.email").unwrap().as_ref(),
            &json!("a@b")
        );
        assert_eq!(get(&doc, "list.1.x").unwrap().as_ref(), &json!(2));
        assert_eq!(get(&doc, "list.#").unwrap().as_ref(), &json!(2));
        assert_eq!(get(&doc, r"a\.b").unwrap().as_ref(), &json!(3));
        assert!(get(&doc, "identity.missing").is_none());
        assert!(get(&doc, "list.9").is_none());
        assert!(get(&doc, "identity.id.deeper").is_none());
    }

    #[test]
    fn this_is_the_whole_document() {
        let doc = json!({"a": 1});
        assert_eq!(get(&doc, "@this").unwrap().as_ref(), &doc);
    }
}
