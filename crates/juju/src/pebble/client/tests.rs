use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;

use super::*;

/// What the fake saw: method, path, body.
type Seen = (String, String, Vec<u8>);

/// Serves one canned answer per connection, in order, on a socket in a temp dir.
fn fake(answers: Vec<Vec<u8>>) -> (tempfile::TempDir, Client, mpsc::Receiver<Seen>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let listener = UnixListener::bind(&socket).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for answer in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            );
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            tx.send((method, path, body)).unwrap();
            reader.get_mut().write_all(&answer).unwrap();
        }
    });
    (dir, Client::new(socket), rx)
}

fn json_answer(status: u16, envelope: &Envelope) -> Vec<u8> {
    let body = serde_json::to_string(envelope).unwrap();
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn change(id: &str, ready: bool, err: Option<&str>) -> Envelope {
    let mut c = json!({"id": id, "kind": "replan", "summary": "s", "status": if ready {"Done"} else {"Doing"}, "ready": ready, "tasks": []});
    if let Some(e) = err {
        c["err"] = json!(e);
        c["status"] = json!("Error");
    }
    Envelope::sync(c)
}

#[test]
fn system_info_reads_the_sync_envelope() {
    let (_d, client, seen) = fake(vec![json_answer(
        200,
        &Envelope::sync(json!({"version": "1.10", "boot-id": "b"})),
    )]);
    assert_eq!(client.system_info().unwrap().version, "1.10");
    assert_eq!(seen.recv().unwrap().1, "/v1/system-info");
}

#[test]
fn cannot_connect_without_a_socket() {
    let client = Client::for_container(Path::new("/nonexistent"), "oathkeeper");
    assert!(!client.can_connect());
    assert!(matches!(
        client.system_info(),
        Err(Error::Connection { .. })
    ));
}

#[test]
fn add_layer_sends_the_layer_as_yaml() {
    let (_d, client, seen) = fake(vec![json_answer(200, &Envelope::sync(json!(true)))]);
    let layer =
        Layer::parse_yaml("services:\n  s:\n    override: replace\n    command: run\n").unwrap();
    client.add_layer("oathkeeper", &layer, true).unwrap();
    let (method, path, body) = seen.recv().unwrap();
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/layers"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["action"], "add");
    assert_eq!(body["combine"], true);
    assert_eq!(body["label"], "oathkeeper");
    assert_eq!(
        Layer::parse_yaml(body["layer"].as_str().unwrap()).unwrap(),
        layer
    );
}

#[test]
fn error_envelopes_become_api_errors_with_message_and_kind() {
    let (_d, client, _seen) = fake(vec![json_answer(
        400,
        &Envelope::error(
            400,
            "Bad Request",
            "layer \"l\" already exists",
            Some("generic"),
        ),
    )]);
    let err = client.add_layer("l", &Layer::default(), false).unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 400, message, kind: Some(k) } if message == "layer \"l\" already exists" && k == "generic"),
        "{err}"
    );
}

#[test]
fn service_actions_wait_through_504_until_the_change_is_ready() {
    let (_d, client, seen) = fake(vec![
        json_answer(202, &Envelope::accepted("7")),
        json_answer(
            504,
            &Envelope::error(504, "Gateway Timeout", "timed out waiting for change", None),
        ),
        json_answer(200, &change("7", true, None)),
    ]);
    let done = client
        .services_action("replan", &[], Duration::from_secs(5))
        .unwrap();
    assert!(done.ready);
    let (_, _, body) = seen.recv().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"action": "replan", "services": []})
    );
    assert_eq!(seen.recv().unwrap().1, "/v1/changes/7/wait?timeout=4s");
}

#[test]
fn failed_changes_are_errors() {
    let (_d, client, _seen) = fake(vec![
        json_answer(202, &Envelope::accepted("8")),
        json_answer(
            200,
            &change("8", true, Some("cannot start service: exited quickly")),
        ),
    ]);
    let err = client
        .services_action("start", &["oathkeeper"], Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(err, Error::Change { ref id, .. } if id == "8"),
        "{err}"
    );
}

#[test]
fn old_pebble_without_wait_is_polled() {
    let (_d, client, seen) = fake(vec![
        json_answer(404, &Envelope::error(404, "Not Found", "not found", None)),
        json_answer(200, &change("9", true, None)),
    ]);
    client.wait_change("9", Duration::from_secs(5)).unwrap();
    seen.recv().unwrap();
    assert_eq!(seen.recv().unwrap().1, "/v1/changes/9");
}

#[test]
fn push_sends_multipart_with_request_and_file() {
    let (_d, client, seen) = fake(vec![json_answer(
        200,
        &Envelope::sync(json!([{"path": "/etc/a.conf"}])),
    )]);
    client
        .push("/etc/a.conf", b"key: value\n", true, Some("644"))
        .unwrap();
    let (_, _, body) = seen.recv().unwrap();
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("name=\"request\""), "{text}");
    assert!(
        text.contains(r#""action":"write""#)
            && text.contains(r#""make-dirs":true"#)
            && text.contains(r#""permissions":"644""#),
        "{text}"
    );
    assert!(
        text.contains("name=\"files\"; filename=\"/etc/a.conf\"\r\n\r\nkey: value\n\r\n--"),
        "{text}"
    );
}

#[test]
fn per_path_file_errors_are_errors() {
    let (_d, client, _seen) = fake(vec![json_answer(
        200,
        &Envelope::sync(
            json!([{"path": "/x", "error": {"kind": "permission-denied", "message": "open /x: permission denied"}}]),
        ),
    )]);
    let err = client.remove("/x", false).unwrap_err();
    assert!(
        matches!(err, Error::Api { kind: Some(ref k), .. } if k == "permission-denied"),
        "{err}"
    );
}

#[test]
fn pull_reads_the_files_part_of_a_chunked_multipart_answer() {
    let multipart = "--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"/etc/a.conf\"\r\n\r\nhello\r\n--B\r\nContent-Disposition: form-data; name=\"response\"\r\n\r\n{\"type\":\"sync\",\"status-code\":200,\"status\":\"OK\",\"result\":[{\"path\":\"/etc/a.conf\"}]}\r\n--B--\r\n";
    let (first, second) = multipart.split_at(20);
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    let (_d, client, seen) = fake(vec![answer.into_bytes()]);
    assert_eq!(client.pull("/etc/a.conf").unwrap(), b"hello");
    assert_eq!(
        seen.recv().unwrap().1,
        "/v1/files?action=read&path=/etc/a.conf"
    );
}

#[test]
fn the_containers_dir_comes_from_the_environment_with_the_juju_default() {
    let mut env = std::collections::BTreeMap::new();
    assert_eq!(containers_dir(&env), PathBuf::from("/charm/containers"));
    env.insert(CONTAINERS_DIR_ENV.to_owned(), String::new());
    assert_eq!(containers_dir(&env), PathBuf::from("/charm/containers"));
    env.insert(CONTAINERS_DIR_ENV.to_owned(), "/tmp/x".to_owned());
    assert_eq!(containers_dir(&env), PathBuf::from("/tmp/x"));
    assert_eq!(
        Client::for_container(&containers_dir(&env), "oathkeeper").socket(),
        Path::new("/tmp/x/oathkeeper/pebble.socket")
    );
}

#[test]
fn exec_fails_when_pebble_refuses_the_websockets() {
    let done = change("9", true, None);
    let (_dir, client, seen) = fake(vec![
        json_answer(202, &{
            let mut accepted = Envelope::accepted("9");
            accepted.result = json!({"task-id": "10"});
            accepted
        }),
        json_answer(404, &Envelope::error(404, "Not Found", "not found", None)),
        json_answer(200, &done),
    ]);
    let err = client
        .exec(&["oathkeeper", "rules", "list"], &ExecOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ref m) if m.contains("status 404")),
        "{err}"
    );
    let (method, path, body) = seen.recv().unwrap();
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/exec"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["command"], json!(["oathkeeper", "rules", "list"]));
    let (method, path, _) = seen.recv().unwrap();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("GET", "/v1/tasks/10/websocket/control")
    );
}

#[test]
fn refresh_check_runs_the_check_and_reports_its_error() {
    let passed = Envelope::sync(json!({"info": {"name": "alive", "status": "up"}, "error": ""}));
    let failed = Envelope::sync(
        json!({"info": {"name": "alive", "status": "down"}, "error": "non-2xx status code 502"}),
    );
    let (_dir, client, seen) = fake(vec![json_answer(200, &passed), json_answer(200, &failed)]);
    assert_eq!(client.refresh_check("alive").unwrap(), None);
    let (method, path, body) = seen.recv().unwrap();
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/v1/checks/refresh")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"name": "alive"})
    );
    assert_eq!(
        client.refresh_check("alive").unwrap().as_deref(),
        Some("non-2xx status code 502")
    );
}

#[test]
fn a_missing_file_is_not_found() {
    let error = Error::Api {
        status: 200,
        message: "stat /x: no such file or directory".to_owned(),
        kind: Some("not-found".to_owned()),
    };
    assert!(error.is_not_found());
    assert!(!Error::Timeout("1".to_owned()).is_not_found());
}
