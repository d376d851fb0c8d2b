//! Discovery documents: `/version`, `/api`, `/apis`, and the resource lists kubectl reads to
//! map kinds to URLs.

use serde_json::{Value, json};

use super::resource::{ALL, Resource};

/// The Kubernetes version the fake API server reports.
pub(crate) const MAJOR: &str = "1";
/// Minor version reported.
pub(crate) const MINOR: &str = "33";

/// `GET /version`.
pub(crate) fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn apps_group() -> Value {
    json!({
        "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
    })
}

/// `GET /apis`.
pub(crate) fn groups() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [apps_group()]})
}

/// `GET /apis/apps`.
pub(crate) fn apps() -> Value {
    let mut group = apps_group();
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    group
}

/// `GET /api/v1` (`group` empty) or `GET /apis/apps/v1`.
pub(crate) fn resources(group: &str) -> Value {
    let list: Vec<Value> = ALL
        .into_iter()
        .filter(|r| r.group == group)
        .map(resource_entry)
        .collect();
    let group_version = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
}

fn resource_entry(resource: &Resource) -> Value {
    json!({
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": true,
        "kind": resource.kind,
        "verbs": resource.verbs,
        "shortNames": resource.short_names,
    })
}

/// A stable hash for the OpenAPI v3 URLs (clients cache by it).
const OPENAPI_HASH: &str = "6F2B7A1E0C9D4B38";

/// `GET /openapi/v3`: the index of group-version documents.
pub(crate) fn openapi_index() -> Value {
    json!({"paths": {
        "api/v1": {"serverRelativeURL": format!("/openapi/v3/api/v1?hash={OPENAPI_HASH}")},
        "apis/apps/v1": {"serverRelativeURL": format!("/openapi/v3/apis/apps/v1?hash={OPENAPI_HASH}")},
    }})
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/apps/v1`: the operations of each served
/// resource with their query parameters, which is what kubectl reads to learn that the
/// server validates fields itself (`fieldValidation`). No object schemas: kubectl then
/// computes client-side apply patches from its built-in types, as it does for any server
/// whose OpenAPI lacks a kind.
pub(crate) fn openapi_group_version(group: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for resource in ALL.into_iter().filter(|r| r.group == group) {
        let prefix = if group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{group}/v1")
        };
        let gvk = json!({"group": resource.group, "version": "v1", "kind": resource.kind});
        let operation = |action: &str, params: &[&str]| {
            let parameters: Vec<Value> = params
                .iter()
                .map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
                .collect();
            json!({
                "operationId": format!("{action}{}", resource.kind),
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(
            format!("{prefix}/namespaces/{{namespace}}/{}", resource.plural),
            json!({
                "get": operation("list", &["fieldSelector", "labelSelector", "resourceVersion", "timeoutSeconds", "watch"]),
                "post": operation("post", &write),
            }),
        );
        paths.insert(
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", resource.plural),
            json!({
                "get": operation("get", &[]),
                "put": operation("put", &write),
                "patch": operation("patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": operation("delete", &["dryRun"]),
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{MAJOR}.{MINOR}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    })
}
