//! Deep merge of a handler's global config with a rule's config, as upstream's `PipelineConfig`.

use serde_json::Value;

/// Merges `rule` over `global`: objects merge recursively, anything else in `rule` replaces.
///
/// `None` on either side means "not configured". The result is `Value::Object` when both are
/// absent, so handlers always decode from an object.
pub fn deep_merge(global: Option<&Value>, rule: Option<&Value>) -> Value {
    let mut out = match global {
        Some(Value::Null) | None => Value::Object(Default::default()),
        Some(v) => v.clone(),
    };
    if let Some(rule) = rule {
        merge_into(&mut out, rule);
    }
    out
}

fn merge_into(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) => merge_into(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (_, Value::Null) => {}
        (base, over) => *base = over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_recursively_and_scalars_and_arrays_replace() {
        let global = json!({"a": {"x": 1, "y": [1, 2]}, "b": "g"});
        let rule = json!({"a": {"y": [3]}, "c": true});
        assert_eq!(
            deep_merge(Some(&global), Some(&rule)),
            json!({"a": {"x": 1, "y": [3]}, "b": "g", "c": true})
        );
    }

    #[test]
    fn absent_configs_give_an_empty_object() {
        assert_eq!(deep_merge(None, None), json!({}));
        assert_eq!(
            deep_merge(Some(&Value::Null), Some(&Value::Null)),
            json!({})
        );
    }
}
