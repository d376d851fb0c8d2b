use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use super::fields::{from_fields_v1, leaves, render, to_fields_v1};
use super::*;

const NS: &str = "iam";
const APP: &str = "oathkeeper";
const CM: &str = "/api/v1/namespaces/iam/configmaps";
const TIMEOUT: Duration = Duration::from_secs(10);

fn server() -> FakeApiServer {
    FakeApiServer::start(KubernetesState::juju_application(NS, APP, &[APP]).trusted(true)).unwrap()
}

fn connect(server: &FakeApiServer) -> TcpStream {
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn send(stream: &mut TcpStream, method: &str, path: &str, content_type: &str, body: &str) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: unit-test/1.0\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
}

/// One request with `Connection: close`: status and JSON body.
fn call(
    server: &FakeApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let mut stream = connect(server);
    send(&mut stream, method, path, content_type, body);
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get(server: &FakeApiServer, path: &str) -> (u16, Value) {
    call(server, "GET", path, "application/json", "")
}

fn post(server: &FakeApiServer, path: &str, body: &Value) -> (u16, Value) {
    call(server, "POST", path, "application/json", &body.to_string())
}

fn patch(server: &FakeApiServer, path: &str, content_type: &str, body: &Value) -> (u16, Value) {
    call(server, "PATCH", path, content_type, &body.to_string())
}

#[allow(clippy::needless_pass_by_value)] // json!() literals read best inline
fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn version(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A watch stream: reads chunked event lines.
struct Watch {
    reader: BufReader<TcpStream>,
}

impl Watch {
    fn open(server: &FakeApiServer, query: &str) -> (u16, Self) {
        let mut stream = connect(server);
        send(
            &mut stream,
            "GET",
            &format!("{CM}?watch=1&{query}"),
            "application/json",
            "",
        );
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" {
                break;
            }
        }
        (status, Self { reader })
    }

    /// The next event, or `None` when the stream ends.
    fn next(&mut self) -> Option<Value> {
        let mut size = String::new();
        if self.reader.read_line(&mut size).ok()? == 0 {
            return None;
        }
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return None;
        }
        let mut chunk = vec![0; size + 2];
        self.reader.read_exact(&mut chunk).ok()?;
        serde_json::from_slice(&chunk[..size]).ok()
    }
}

#[test]
fn missing_config_map_is_404_with_the_api_servers_status_body() {
    let server = server();
    let (status, body) = get(&server, &format!("{CM}/x"));
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "configmaps \"x\" not found", "reason": "NotFound",
               "details": {"name": "x", "kind": "configmaps"}, "code": 404})
    );
}

#[test]
fn create_sets_what_the_api_server_sets() {
    let server = server();
    let before = server.state().resource_version;
    let (status, created) = post(&server, CM, &config_map("rules", json!({"a": "1"})));
    assert_eq!(status, 201);
    assert_eq!(version(&created), before + 1);
    assert_eq!(created["metadata"]["namespace"], NS);
    assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(
        created["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let managed = &created["metadata"]["managedFields"][0];
    assert_eq!(managed["manager"], "unit-test");
    assert_eq!(managed["operation"], "Update");
    assert_eq!(managed["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    let (status, got) = get(&server, &format!("{CM}/rules"));
    assert_eq!(status, 200);
    assert_eq!(got, created);
    assert_eq!(server.state().config_map_data("rules").unwrap()["a"], "1");
}

#[test]
fn creating_an_existing_config_map_is_409_already_exists() {
    let server = server();
    post(&server, CM, &config_map("x", json!({})));
    let (status, body) = post(&server, CM, &config_map("x", json!({})));
    assert_eq!(status, 409);
    assert_eq!(body["reason"], "AlreadyExists");
    assert_eq!(body["message"], "configmaps \"x\" already exists");
}

#[test]
fn replace_with_a_stale_resource_version_is_409_conflict() {
    let server = server();
    let (_, created) = post(&server, CM, &config_map("x", json!({"a": "1"})));
    let mut stale = created.clone();
    stale["data"]["a"] = json!("2");
    let (status, updated) = call(
        &server,
        "PUT",
        &format!("{CM}/x"),
        "application/json",
        &stale.to_string(),
    );
    assert_eq!(status, 200);
    assert_eq!(version(&updated), version(&created) + 1);
    stale["data"]["a"] = json!("3");
    let (status, body) = call(
        &server,
        "PUT",
        &format!("{CM}/x"),
        "application/json",
        &stale.to_string(),
    );
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again",
               "reason": "Conflict", "details": {"name": "x", "kind": "configmaps"}, "code": 409})
    );
    assert_eq!(server.state().config_map_data("x").unwrap()["a"], "2");
}

#[test]
fn a_write_that_changes_nothing_keeps_the_resource_version() {
    let server = server();
    let (_, created) = post(&server, CM, &config_map("x", json!({"a": "1"})));
    let (_, same) = patch(
        &server,
        &format!("{CM}/x"),
        "application/merge-patch+json",
        &json!({"data": {"a": "1"}}),
    );
    assert_eq!(version(&same), version(&created));
    let (_, changed) = patch(
        &server,
        &format!("{CM}/x"),
        "application/merge-patch+json",
        &json!({"data": {"a": "2"}}),
    );
    assert_eq!(version(&changed), version(&created) + 1);
}

#[test]
fn invalid_names_and_keys_are_422_invalid() {
    let server = server();
    let (status, body) = post(
        &server,
        CM,
        &config_map("Bad_Name", json!({"bad key": "v"})),
    );
    assert_eq!(status, 422);
    assert_eq!(body["reason"], "Invalid");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("ConfigMap \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{message}");
    assert!(
        message.contains("data[bad key]: Invalid value: \"bad key\": a valid config key"),
        "{message}"
    );
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");
    let (status, body) = post(&server, CM, &config_map("x", json!({"n": 1})));
    assert_eq!(status, 400);
    assert_eq!(body["reason"], "BadRequest");
}

#[test]
fn merge_patch_deletes_null_keys_and_replaces_lists() {
    let server = server();
    post(&server, CM, &config_map("x", json!({"a": "1", "b": "2"})));
    let (status, patched) = patch(
        &server,
        &format!("{CM}/x"),
        "application/merge-patch+json",
        &json!({"data": {"a": null, "c": "3"}}),
    );
    assert_eq!(status, 200);
    assert_eq!(patched["data"], json!({"b": "2", "c": "3"}));
}

#[test]
fn strategic_merge_patch_merges_containers_volumes_and_mounts_by_key() {
    let server = server();
    let path = "/apis/apps/v1/namespaces/iam/statefulsets/oathkeeper";
    let body = juju::k8s::config_map_mounts_patch(
        APP,
        &[juju::k8s::ConfigMapMount {
            volume: "config".into(),
            config_map: "oathkeeper-config".into(),
            mount_path: "/etc/config/oathkeeper".into(),
        }],
    );
    let (status, first) = patch(
        &server,
        path,
        "application/strategic-merge-patch+json",
        &body,
    );
    assert_eq!(status, 200, "{first}");
    let containers = first["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2, "the charm container is kept");
    assert_eq!(
        containers[1]["image"], "oathkeeper-image",
        "fields not in the patch are kept"
    );
    assert_eq!(
        containers[1]["volumeMounts"][0]["mountPath"],
        "/etc/config/oathkeeper"
    );
    assert_eq!(
        first["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
        "oathkeeper-config"
    );
    assert_eq!(first["metadata"]["generation"], 2);
    let (_, second) = patch(
        &server,
        path,
        "application/strategic-merge-patch+json",
        &body,
    );
    assert_eq!(second, first, "the same patch again changes nothing");
    let delete = json!({"spec": {"template": {"spec": {"volumes": [{"name": "config", "$patch": "delete"}]}}}});
    let (_, third) = patch(
        &server,
        path,
        "application/strategic-merge-patch+json",
        &delete,
    );
    assert_eq!(third["spec"]["template"]["spec"]["volumes"], json!([]));
}

#[test]
fn json_patch_applies_operations_and_a_failed_test_is_422() {
    let server = server();
    post(&server, CM, &config_map("x", json!({"a": "1"})));
    let ops = json!([{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]);
    let (status, patched) = patch(
        &server,
        &format!("{CM}/x"),
        "application/json-patch+json",
        &ops,
    );
    assert_eq!(status, 200);
    assert_eq!(patched["data"], json!({"b": "2"}));
    let failing = json!([{"op": "test", "path": "/data/b", "value": "9"}]);
    let (status, body) = patch(
        &server,
        &format!("{CM}/x"),
        "application/json-patch+json",
        &failing,
    );
    assert_eq!(status, 422);
    assert_eq!(body["reason"], "Invalid");
}

#[test]
fn unknown_patch_types_are_415_and_apply_needs_a_field_manager() {
    let server = server();
    post(&server, CM, &config_map("x", json!({})));
    let (status, _) = patch(&server, &format!("{CM}/x"), "text/plain", &json!({}));
    assert_eq!(status, 415);
    let (status, body) = patch(
        &server,
        &format!("{CM}/x"),
        "application/apply-patch+yaml",
        &config_map("x", json!({})),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "PATCH requests with application/apply-patch+yaml require a fieldManager"
    );
}

#[test]
fn server_side_apply_creates_owns_and_prunes_its_fields() {
    let server = server();
    let path = format!("{CM}/x?fieldManager={APP}&force=true");
    let (status, created) = patch(
        &server,
        &path,
        "application/apply-patch+yaml",
        &config_map("x", json!({"a": "1", "b": "2"})),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["metadata"]["managedFields"][0]["manager"], APP);
    assert_eq!(
        created["metadata"]["managedFields"][0]["operation"],
        "Apply"
    );
    // Another manager adds a key; our next apply drops "b" but keeps theirs.
    patch(
        &server,
        &format!("{CM}/x?fieldManager=other"),
        "application/merge-patch+json",
        &json!({"data": {"theirs": "t"}}),
    );
    let (status, applied) = patch(
        &server,
        &path,
        "application/apply-patch+yaml",
        &config_map("x", json!({"a": "1"})),
    );
    assert_eq!(status, 200);
    assert_eq!(applied["data"], json!({"a": "1", "theirs": "t"}));
    let (_, again) = patch(
        &server,
        &path,
        "application/apply-patch+yaml",
        &config_map("x", json!({"a": "1"})),
    );
    assert_eq!(
        version(&again),
        version(&applied),
        "applying the same intent is a no-op"
    );
}

#[test]
fn server_side_apply_conflicts_unless_forced() {
    let server = server();
    post(
        &server,
        &format!("{CM}?fieldManager=kubectl-create"),
        &config_map("x", json!({"a": "1"})),
    );
    let body = config_map("x", json!({"a": "2"}));
    let (status, conflict) = patch(
        &server,
        &format!("{CM}/x?fieldManager={APP}"),
        "application/apply-patch+yaml",
        &body,
    );
    assert_eq!(status, 409);
    assert_eq!(conflict["reason"], "Conflict");
    assert_eq!(
        conflict["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-create\" using v1: .data.a"
    );
    let (status, forced) = patch(
        &server,
        &format!("{CM}/x?fieldManager={APP}&force=true"),
        "application/apply-patch+yaml",
        &body,
    );
    assert_eq!(status, 200);
    assert_eq!(forced["data"]["a"], "2");
    let managers: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(
        managers,
        [APP],
        "forcing takes the field away from its old manager"
    );
}

#[test]
fn server_side_apply_accepts_yaml_bodies() {
    let server = server();
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n";
    let (status, created) = call(
        &server,
        "PATCH",
        &format!("{CM}/y?fieldManager=m"),
        "application/apply-patch+yaml",
        yaml,
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(server.state().config_map_data("y").unwrap()["k"], "v");
}

#[test]
fn untrusted_gets_rbacs_403_except_for_service_reads_and_patches() {
    let server = server();
    server.set_trusted(false);
    let (status, body) = get(&server, &format!("{CM}/x"));
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "configmaps \"x\" is forbidden: User \"system:serviceaccount:iam:oathkeeper\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"iam\"",
               "reason": "Forbidden", "details": {"name": "x", "kind": "configmaps"}, "code": 403})
    );
    let (status, body) = post(&server, CM, &config_map("x", json!({})));
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "configmaps is forbidden: User \"system:serviceaccount:iam:oathkeeper\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"iam\""
    );
    let (status, body) = patch(
        &server,
        "/apis/apps/v1/namespaces/iam/statefulsets/oathkeeper",
        "application/merge-patch+json",
        &json!({}),
    );
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("statefulsets.apps \"oathkeeper\" is forbidden")
    );
    assert_eq!(body["details"]["group"], "apps");
    let (status, _) = get(&server, "/api/v1/namespaces/iam/services/oathkeeper");
    assert_eq!(status, 200, "Juju's default Role allows reading Services");
    server.set_trusted(true);
    let (status, _) = post(&server, CM, &config_map("x", json!({})));
    assert_eq!(status, 201);
    assert!(server.state().trusted);
}

#[test]
fn list_returns_items_and_the_collection_resource_version() {
    let server = server();
    post(&server, CM, &config_map("a", json!({})));
    post(&server, CM, &config_map("b", json!({})));
    let (status, list) = get(&server, &format!("{CM}?fieldSelector=metadata.name%3Db"));
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["metadata"]["name"], "b");
    assert_eq!(
        list["metadata"]["resourceVersion"],
        server.state().resource_version.to_string()
    );
}

#[test]
fn delete_answers_success_and_then_404() {
    let server = server();
    post(&server, CM, &config_map("x", json!({})));
    let (status, body) = call(
        &server,
        "DELETE",
        &format!("{CM}/x"),
        "application/json",
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(body["status"], "Success");
    assert_eq!(body["details"]["name"], "x");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("{CM}/x"),
        "application/json",
        "",
    );
    assert_eq!(status, 404);
    assert!(server.state().config_map("x").is_none());
}

#[test]
fn watch_streams_initial_objects_then_changes() {
    let server = server();
    post(&server, CM, &config_map("a", json!({"k": "1"})));
    let (status, mut watch) = Watch::open(&server, "");
    assert_eq!(status, 200);
    let first = watch.next().unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "a");
    patch(
        &server,
        &format!("{CM}/a"),
        "application/merge-patch+json",
        &json!({"data": {"k": "2"}}),
    );
    let modified = watch.next().unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["data"]["k"], "2");
    call(
        &server,
        "DELETE",
        &format!("{CM}/a"),
        "application/json",
        "",
    );
    let deleted = watch.next().unwrap();
    assert_eq!(deleted["type"], "DELETED");
    assert!(version(&deleted["object"]) > version(&modified["object"]));
}

#[test]
fn watch_from_a_resource_version_replays_later_events_for_the_selected_name() {
    let server = server();
    let (_, a) = post(&server, CM, &config_map("a", json!({"k": "1"})));
    patch(
        &server,
        &format!("{CM}/a"),
        "application/merge-patch+json",
        &json!({"data": {"k": "2"}}),
    );
    post(&server, CM, &config_map("b", json!({})));
    let query = format!(
        "resourceVersion={}&fieldSelector=metadata.name%3Da&timeoutSeconds=1",
        version(&a)
    );
    let (_, mut watch) = Watch::open(&server, &query);
    let replayed = watch.next().unwrap();
    assert_eq!(replayed["type"], "MODIFIED");
    assert_eq!(replayed["object"]["data"]["k"], "2");
    assert!(
        watch.next().is_none(),
        "b is filtered out, and the watch ends after timeoutSeconds"
    );
}

#[test]
fn watch_from_a_compacted_resource_version_is_410_expired() {
    let server = server();
    let (_, a) = post(&server, CM, &config_map("a", json!({})));
    patch(
        &server,
        &format!("{CM}/a"),
        "application/merge-patch+json",
        &json!({"data": {"k": "2"}}),
    );
    server.compact();
    let (status, mut watch) = Watch::open(&server, &format!("resourceVersion={}", version(&a)));
    assert_eq!(status, 200);
    let error = watch.next().unwrap();
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    assert!(watch.next().is_none());
}

#[test]
fn watch_with_bookmarks_sends_the_latest_resource_version() {
    let server = server();
    server.set_bookmark_interval(Duration::from_millis(50));
    let (_, mut watch) = Watch::open(&server, "allowWatchBookmarks=true&timeoutSeconds=5");
    post(&server, CM, &config_map("a", json!({})));
    let added = watch.next().unwrap();
    assert_eq!(added["type"], "ADDED");
    let bookmark = watch.next().unwrap();
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "ConfigMap");
    assert_eq!(
        bookmark["object"]["metadata"]["resourceVersion"],
        added["object"]["metadata"]["resourceVersion"]
    );
}

#[test]
fn pause_drops_connections_and_resume_serves_the_same_state_on_the_same_port() {
    let server = server();
    post(&server, CM, &config_map("a", json!({})));
    let (_, mut watch) = Watch::open(&server, "");
    assert_eq!(watch.next().unwrap()["type"], "ADDED");
    let url = server.url();
    server.pause();
    assert!(watch.next().is_none(), "the open watch ends");
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "connections are refused"
    );
    server.resume().unwrap();
    assert_eq!(server.url(), url);
    let (status, _) = get(&server, &format!("{CM}/a"));
    assert_eq!(status, 200);
}

#[test]
fn discovery_documents_describe_the_served_resources() {
    let server = server();
    assert_eq!(get(&server, "/api").1["versions"], json!(["v1"]));
    assert_eq!(get(&server, "/apis").1["groups"][0]["name"], "apps");
    let core = get(&server, "/api/v1").1;
    let names: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["configmaps", "services"]);
    assert_eq!(
        get(&server, "/apis/apps/v1").1["resources"][0]["kind"],
        "StatefulSet"
    );
    assert_eq!(get(&server, "/version").1["major"], "1");
    assert_eq!(
        get(&server, "/api/v1/namespaces/iam").1["kind"],
        "Namespace"
    );
    assert_eq!(get(&server, "/api/v1/namespaces/elsewhere").0, 404);
    assert_eq!(get(&server, "/nope").0, 404);
}

#[test]
fn the_request_log_records_method_path_query_and_status() {
    let server = server();
    get(&server, &format!("{CM}/x?a=b"));
    let log = server.take_requests();
    assert_eq!(
        log,
        [RequestRecord {
            method: "GET".into(),
            path: format!("{CM}/x"),
            query: "a=b".into(),
            status: 404
        }]
    );
    assert!(server.requests().is_empty());
}

#[test]
fn a_hand_written_state_file_loads_and_snapshots_with_server_fields() {
    let text = r#"{"trusted": false, "namespace": "m", "serviceAccount": "app",
        "objects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}]}"#;
    let state: KubernetesState = serde_json::from_str(text).unwrap();
    let server = FakeApiServer::start(state).unwrap();
    let snapshot = server.stop();
    assert!(!snapshot.trusted);
    let object = snapshot.config_map("x").unwrap();
    assert_eq!(object["metadata"]["namespace"], "m");
    assert_eq!(object["metadata"]["resourceVersion"], "1");
    assert_eq!(snapshot.resource_version, 1);
    let round_trip: KubernetesState =
        serde_json::from_value(serde_json::to_value(&snapshot).unwrap()).unwrap();
    assert_eq!(round_trip, snapshot);
    assert!(
        !KubernetesState::default().trusted,
        "untrusted by default, as Juju deploys"
    );
}

#[test]
fn a_state_with_an_unserved_kind_is_rejected() {
    let state = KubernetesState::default()
        .with_object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
    let error = FakeApiServer::start(state).unwrap_err();
    assert!(error.to_string().contains("\"Pod\""), "{error}");
}

#[test]
fn fields_v1_round_trips_and_marks_list_items() {
    let object = json!({"spec": {"ports": [{"port": 80, "name": "http"}]}, "metadata": {"name": "x", "labels": {"a": "b"}}});
    let set: std::collections::BTreeSet<_> = leaves(&object).into_keys().collect();
    let trie = to_fields_v1(&set);
    assert_eq!(
        trie,
        json!({"f:metadata": {"f:labels": {"f:a": {}}},
               "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
    );
    assert_eq!(from_fields_v1(&trie), set);
    let item = set
        .iter()
        .find(|p| p.last().unwrap().starts_with("k:"))
        .unwrap();
    assert_eq!(render(item), ".spec.ports[port=80,protocol=\"TCP\"]");
}

#[test]
fn write_atomic_lays_out_files_as_kubelet_does() {
    let dir = tempfile::tempdir().unwrap();
    let files = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    };
    assert!(write_atomic(dir.path(), &files(&[("a", "1"), ("b", "2")])).unwrap());
    let target = std::fs::read_link(dir.path().join(DATA_LINK)).unwrap();
    assert!(target.to_str().unwrap().starts_with(".."), "{target:?}");
    assert_eq!(
        std::fs::read_link(dir.path().join("a")).unwrap(),
        std::path::Path::new("..data/a")
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "2");
    assert!(
        !write_atomic(dir.path(), &files(&[("a", "1"), ("b", "2")])).unwrap(),
        "same payload: no write"
    );
    assert!(write_atomic(dir.path(), &files(&[("a", "3")])).unwrap());
    assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "3");
    assert!(
        std::fs::symlink_metadata(dir.path().join("b")).is_err(),
        "dropped keys lose their link"
    );
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(
        entries.len(),
        3,
        "one timestamped dir, ..data and a: {entries:?}"
    );
    assert!(!entries.contains(&DATA_TMP_LINK.to_owned()));
}

#[test]
fn a_mounted_config_map_follows_the_server() {
    let server = server();
    let (_, created) = post(&server, CM, &config_map("rules", json!({"r.json": "[]"})));
    let dir = tempfile::tempdir().unwrap();
    let mount = server.mount_config_map("rules", dir.path()).unwrap();
    assert_eq!(mount.synced_version(), version(&created));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r.json")).unwrap(),
        "[]"
    );
    let (_, patched) = patch(
        &server,
        &format!("{CM}/rules"),
        "application/merge-patch+json",
        &json!({"data": {"r.json": "[1]"}}),
    );
    assert!(mount.wait_for_version(version(&patched), TIMEOUT));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r.json")).unwrap(),
        "[1]"
    );
}

#[test]
fn a_dry_run_validates_and_answers_without_storing() {
    let server = server();
    let before = server.state();
    let (status, answered) = call(
        &server,
        "POST",
        &format!("{CM}?dryRun=All"),
        "application/json",
        &config_map("x", json!({"a": "1"})).to_string(),
    );
    assert_eq!(status, 201);
    assert_eq!(answered["data"]["a"], "1");
    let (status, _) = call(
        &server,
        "POST",
        &format!("{CM}?dryRun=All"),
        "application/json",
        &config_map("X", json!({})).to_string(),
    );
    assert_eq!(status, 422);
    assert_eq!(server.state(), before);
}

#[test]
fn server_side_apply_merges_pod_template_lists_by_key() {
    let server = server();
    let path =
        format!("/apis/apps/v1/namespaces/{NS}/statefulsets/{APP}?fieldManager={APP}&force=true");
    let mut body = juju::k8s::config_map_mounts_patch(
        APP,
        &[juju::k8s::ConfigMapMount {
            volume: "config".into(),
            config_map: "oathkeeper-config".into(),
            mount_path: "/etc/config/oathkeeper".into(),
        }],
    );
    body["apiVersion"] = json!("apps/v1");
    body["kind"] = json!("StatefulSet");
    body["metadata"] = json!({"name": APP});
    let (status, applied) = patch(&server, &path, "application/apply-patch+yaml", &body);
    assert_eq!(status, 200, "{applied}");
    let pod = &applied["spec"]["template"]["spec"];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 2);
    assert_eq!(pod["containers"][1]["image"], "oathkeeper-image");
    assert_eq!(pod["containers"][1]["volumeMounts"][0]["name"], "config");
    let owned =
        &applied["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"];
    assert!(owned["f:containers"]["k:{\"name\":\"oathkeeper\"}"]["f:volumeMounts"]["k:{\"mountPath\":\"/etc/config/oathkeeper\"}"].is_object(), "{owned}");
    let (_, again) = patch(&server, &path, "application/apply-patch+yaml", &body);
    assert_eq!(version(&again), version(&applied));
}

#[test]
fn server_side_apply_removes_list_items_it_no_longer_applies() {
    let server = server();
    let path =
        format!("/apis/apps/v1/namespaces/{NS}/statefulsets/{APP}?fieldManager={APP}&force=true");
    let mount = |volume: &str| juju::k8s::ConfigMapMount {
        volume: volume.into(),
        config_map: volume.into(),
        mount_path: format!("/etc/{volume}"),
    };
    let body = |mounts: &[juju::k8s::ConfigMapMount]| {
        let mut body = juju::k8s::config_map_mounts_patch(APP, mounts);
        body["apiVersion"] = json!("apps/v1");
        body["kind"] = json!("StatefulSet");
        body["metadata"] = json!({"name": APP});
        body
    };
    patch(
        &server,
        &path,
        "application/apply-patch+yaml",
        &body(&[mount("a"), mount("b")]),
    );
    let (status, applied) = patch(
        &server,
        &path,
        "application/apply-patch+yaml",
        &body(&[mount("b")]),
    );
    assert_eq!(status, 200);
    let pod = &applied["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"],
        json!([{"name": "b", "configMap": {"name": "b"}}])
    );
    assert_eq!(
        pod["containers"][1]["volumeMounts"],
        json!([{"mountPath": "/etc/b", "name": "b", "readOnly": true}])
    );
}
