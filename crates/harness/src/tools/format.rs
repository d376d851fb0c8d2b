//! Output formats of the hook tools (spec/juju-runtime.md §2.1): `json` is compact JSON and a
//! newline; `yaml` is YAML; `smart` (the default) prints strings raw, string lists one per
//! line, booleans as `True`/`False`, nothing for null or "", and anything else as YAML.

use serde_json::Value;

use super::Reply;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `smart`.
    Smart,
    /// `yaml`.
    Yaml,
    /// `json`.
    Json,
}

impl Format {
    /// The format named by `--format` (smart when absent).
    pub(crate) fn parse(name: Option<&str>) -> Result<Format, Reply> {
        match name {
            None | Some("smart") => Ok(Format::Smart),
            Some("yaml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(Reply::usage(&format!(
                "invalid value {other:?} for option --format: unknown format {other:?}"
            ))),
        }
    }

    /// `value` as the tool prints it.
    pub(crate) fn render(self, value: &Value) -> String {
        match self {
            Format::Json => format!("{value}\n"),
            Format::Yaml => yaml(value),
            Format::Smart => match value {
                Value::Null => String::new(),
                Value::String(text) if text.is_empty() => String::new(),
                Value::String(text) => format!("{text}\n"),
                Value::Bool(true) => "True\n".to_owned(),
                Value::Bool(false) => "False\n".to_owned(),
                Value::Number(number) => format!("{number}\n"),
                Value::Array(items) if items.iter().all(Value::is_string) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|item| format!("{item}\n"))
                    .collect(),
                other => yaml(other),
            },
        }
    }
}

fn yaml(value: &Value) -> String {
    serde_norway::to_string(value).unwrap_or_else(|_| format!("{value}\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_format_prints_as_juju_does() {
        assert_eq!(Format::Json.render(&json!({"a": "b"})), "{\"a\":\"b\"}\n");
        assert_eq!(Format::Smart.render(&json!(true)), "True\n");
        assert_eq!(Format::Smart.render(&json!(null)), "");
        assert_eq!(
            Format::Smart.render(&json!(["db:1", "db:2"])),
            "db:1\ndb:2\n"
        );
        assert_eq!(Format::Smart.render(&json!({"a": "b"})), "a: b\n");
        assert_eq!(Format::Yaml.render(&json!({"a": 1})), "a: 1\n");
        let error = Format::parse(Some("xml")).unwrap_err();
        assert_eq!(error.code, 2);
    }
}
