//! `metav1.Status` failure bodies with the API server's exact texts.

use serde_json::{Value, json};

use super::resource::Resource;

/// A failed request: the HTTP status and the `Status` body the API server sends with it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// HTTP status code.
    pub(crate) code: u16,
    /// `metav1.StatusReason`.
    pub(crate) reason: &'static str,
    /// Human-readable message.
    pub(crate) message: String,
    /// `details`, when the server sends them.
    pub(crate) details: Option<Value>,
}

impl Failure {
    /// The JSON `Status` body.
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(details) = &self.details {
            body["details"] = details.clone();
        }
        body["code"] = json!(self.code);
        body
    }

    fn new(code: u16, reason: &'static str, message: String, details: Option<Value>) -> Self {
        Self {
            code,
            reason,
            message,
            details,
        }
    }

    /// 404 `configmaps "x" not found`.
    pub(crate) fn not_found(resource: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", resource.qualified()),
            Some(details(resource, Some(name))),
        )
    }

    /// 409 `configmaps "x" already exists`.
    pub(crate) fn already_exists(resource: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", resource.qualified()),
            Some(details(resource, Some(name))),
        )
    }

    /// 409 for a stale `metadata.resourceVersion`.
    pub(crate) fn stale(resource: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                resource.qualified()
            ),
            Some(details(resource, Some(name))),
        )
    }

    /// 409 for server-side apply field conflicts (paths like `.data.a`).
    pub(crate) fn apply_conflicts(
        resource: &Resource,
        name: &str,
        conflicts: &[(String, String)],
    ) -> Self {
        let mut managers: Vec<&str> = conflicts.iter().map(|(m, _)| m.as_str()).collect();
        managers.dedup();
        let count = conflicts.len();
        let message = if count == 1 {
            let (manager, path) = &conflicts[0];
            format!(
                "Apply failed with 1 conflict: conflict with \"{manager}\" using {}: {path}",
                resource.api_version()
            )
        } else if managers.len() == 1 {
            let lines: Vec<String> = conflicts.iter().map(|(_, p)| format!("- {p}")).collect();
            format!(
                "Apply failed with {count} conflicts: conflicts with \"{}\" using {}:\n{}",
                managers[0],
                resource.api_version(),
                lines.join("\n")
            )
        } else {
            let lines: Vec<String> = conflicts
                .iter()
                .map(|(m, p)| {
                    format!(
                        "- conflict with \"{m}\" using {}: {p}",
                        resource.api_version()
                    )
                })
                .collect();
            format!("Apply failed with {count} conflicts:\n{}", lines.join("\n"))
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, p)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\" using {}", resource.api_version()), "field": p})
            })
            .collect();
        let mut d = details(resource, Some(name));
        d["causes"] = json!(causes);
        Self::new(409, "Conflict", message, Some(d))
    }

    /// 403 as RBAC denies it to the application's service account.
    pub(crate) fn forbidden(
        resource: &Resource,
        name: Option<&str>,
        verb: &str,
        namespace: &str,
        service_account: &str,
    ) -> Self {
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", resource.qualified()),
            None => resource.qualified(),
        };
        Self::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"system:serviceaccount:{namespace}:{service_account}\" cannot {verb} resource \"{}\" in API group \"{}\" in the namespace \"{namespace}\"",
                resource.plural, resource.group
            ),
            Some(details(resource, name)),
        )
    }

    /// 422 Invalid with one cause per field error: `(reason, field, message)`.
    pub(crate) fn invalid(
        resource: &Resource,
        name: &str,
        causes: &[(&str, String, String)],
    ) -> Self {
        let texts: Vec<String> = causes.iter().map(|(_, f, m)| format!("{f}: {m}")).collect();
        let joined = if texts.len() == 1 {
            texts[0].clone()
        } else {
            format!("[{}]", texts.join(", "))
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(reason, field, message)| json!({"reason": reason, "message": message, "field": field}))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", resource.kind),
            Some(json!({"name": name, "kind": resource.kind, "causes": causes})),
        )
    }

    /// 422 with a message only (a JSON patch that cannot be applied).
    pub(crate) fn unprocessable(message: String) -> Self {
        Self::new(422, "Invalid", message, None)
    }

    /// 400 BadRequest.
    pub(crate) fn bad_request(message: String) -> Self {
        Self::new(400, "BadRequest", message, None)
    }

    /// 404 for a path the server does not serve.
    pub(crate) fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(json!({})),
        )
    }

    /// 405 for a verb a resource does not support.
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
            Some(json!({})),
        )
    }

    /// 415 for a PATCH with an unknown Content-Type.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            None,
        )
    }

    /// 415 for a POST or PUT body in a format the server does not decode (protobuf).
    pub(crate) fn unsupported_body(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"
            ),
            None,
        )
    }

    /// 404 `namespaces "x" not found`.
    pub(crate) fn namespace_not_found(name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("namespaces \"{name}\" not found"),
            Some(json!({"name": name, "kind": "namespaces"})),
        )
    }

    /// 410 Expired, for a watch from a compacted resourceVersion.
    pub(crate) fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
            None,
        )
    }
}

/// `details` as the API server fills it: name, group (when not core), kind (the plural).
fn details(resource: &Resource, name: Option<&str>) -> Value {
    let mut d = serde_json::Map::new();
    if let Some(name) = name {
        d.insert("name".into(), json!(name));
    }
    if !resource.group.is_empty() {
        d.insert("group".into(), json!(resource.group));
    }
    d.insert("kind".into(), json!(resource.plural));
    Value::Object(d)
}
