//! `grafana-dashboard` (provides, interface `grafana_dashboard`): the dashboard the Grafana
//! charm's `grafana_dashboard` library reads from a provider (spec/charm-parity.md §5.8 and
//! the Addendum).
//!
//! App databag (leader), one key, `dashboards` =
//! `{"templates": {"file:oathkeeper": {"charm", "content", "juju_topology", "inject_dropdowns",
//! "dashboard_alt_uid"}}, "uuid": "<uuid4>"}`, `json.dumps`-formatted with the keys in the
//! library's order:
//!
//! - `content`: base64 of the xz-compressed dashboard JSON (lzma-rust2; ~2.3 KiB) (`charm/grafana_dashboards/`, embedded
//!   at build time), which Grafana reads with Python's `lzma.decompress`. Content that is not
//!   valid base64 crashes Grafana's hook, so the encoding is standard base64 with padding;
//! - `juju_topology`: `model`, `model_uuid`, `application`, `unit` (no charm name);
//! - `inject_dropdowns: true`: Grafana adds the topology and datasource dropdowns and injects the
//!   topology into every Prometheus and Loki query; the panels' datasources are
//!   `{"type": "prometheus", "uid": "${prometheusds}"}` and `{"type": "loki", "uid": "${lokids}"}`;
//! - `dashboard_alt_uid`: the library's fallback uid, the first 8 bytes of SHAKE-256 of
//!   `"<charm>-<template id>"` in hex (a constant for us, checked against Python's `hashlib`);
//! - `uuid`: the library writes a fresh `uuid4` on every update so that Grafana sees a change.
//!   Differs from upstream: ours is derived from the SHA-256 of the templates, shaped as a
//!   version-4 UUID, so a converged deployment writes nothing on the next hook while any change
//!   of the dashboard or topology still changes it.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::Value;

use super::{Databag, json_dumps};
use crate::topology::Topology;

/// The endpoint.
pub const ENDPOINT: &str = "grafana-dashboard";
/// App key: the dashboards.
pub const DASHBOARDS: &str = "dashboards";
/// The keys of our app databag.
pub const APP_KEYS: [&str; 1] = [DASHBOARDS];

/// The dashboard, as reviewed in `charm/grafana_dashboards/oathkeeper.json`.
pub const DASHBOARD: &str = include_str!("../../../../charm/grafana_dashboards/oathkeeper.json");
/// The dashboard's template id: `file:<file stem>`, as the library names dashboards read
/// from the charm's directory.
pub const TEMPLATE_ID: &str = "file:oathkeeper";
/// The library's alternative uid of [`TEMPLATE_ID`]: SHAKE-256 of `"oathkeeper-file:oathkeeper"`,
/// 8 bytes, in hex (a test recomputes it with Python's `hashlib`).
pub const DASHBOARD_ALT_UID: &str = "776dade948431924";

/// The LZMA2 dictionary: larger than the dashboard (18 KiB), small enough that a hook
/// allocates little (preset 6 alone would reserve 8 MiB).
const DICT_SIZE: u32 = 256 * 1024;

/// `content`: base64 (standard alphabet, padded) of the xz stream of `dashboard`, as the
/// library's `base64.b64encode(lzma.compress(...))` (xz container, LZMA2, CRC-64 check; about
/// 2.3 KiB for our 18 KiB dashboard). Deterministic: the same input gives the same bytes.
pub fn encode_content(dashboard: &str) -> String {
    let mut options = lzma_rust2::XzOptions::with_preset(6);
    options.lzma_options.dict_size = DICT_SIZE;
    // invariant: the options are a valid preset and the output is a Vec, which never fails to
    // take bytes, so neither creating, writing nor finishing the stream can fail.
    let xz = lzma_rust2::XzWriter::new(Vec::with_capacity(4096), options)
        .and_then(|mut writer| {
            std::io::Write::write_all(&mut writer, dashboard.as_bytes())?;
            writer.finish()
        })
        .expect("xz compression into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(xz)
}

/// The dashboard JSON of a `content` value (the Rust side of what Grafana does with Python's
/// `lzma`); `None` when it is not base64 of an xz stream of UTF-8.
pub fn decode_content(content: &str) -> Option<String> {
    let xz = base64::engine::general_purpose::STANDARD
        .decode(content)
        .ok()?;
    let mut json = String::new();
    std::io::Read::read_to_string(
        &mut lzma_rust2::XzReader::new(xz.as_slice(), false),
        &mut json,
    )
    .ok()?;
    Some(json)
}

/// `juju_topology` of a template: the library's four fields, in its order.
fn juju_topology(topology: &Topology) -> String {
    object(&[
        ("model", string(&topology.model)),
        ("model_uuid", string(&topology.model_uuid)),
        ("application", string(&topology.application)),
        ("unit", string(&topology.unit)),
    ])
}

/// The `templates` object: our one dashboard.
fn templates(topology: &Topology) -> String {
    let template = object(&[
        ("charm", string(&topology.charm_name)),
        ("content", string(&encode_content(DASHBOARD))),
        ("juju_topology", juju_topology(topology)),
        ("inject_dropdowns", "true".to_owned()),
        ("dashboard_alt_uid", string(DASHBOARD_ALT_UID)),
    ]);
    object(&[(TEMPLATE_ID, template)])
}

/// A UUID-v4-shaped value derived from `content`: the first 16 bytes of its SHA-256 with the
/// version (4) and variant (RFC 4122) bits set.
pub fn uuid_of(content: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, content.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `dashboards` value.
pub fn dashboards(topology: &Topology) -> String {
    let templates = templates(topology);
    let uuid = uuid_of(&templates);
    object(&[("templates", templates), ("uuid", string(&uuid))])
}

/// Our app databag.
pub fn render_app(topology: &Topology) -> Databag {
    Databag::from([(DASHBOARDS.to_owned(), dashboards(topology))])
}

/// A JSON string as `json.dumps` writes it.
fn string(s: &str) -> String {
    json_dumps(&Value::String(s.to_owned()))
}

/// A JSON object as `json.dumps` writes a dict, keys in the given order, values already
/// serialised.
fn object(fields: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&string(key));
        out.push_str(": ");
        out.push_str(value);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        crate::testing::topology(0)
    }

    #[test]
    fn the_dashboard_file_is_json_with_a_uid_title_and_panels() {
        let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
        assert!(dashboard["uid"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(dashboard["title"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(!dashboard["panels"].as_array().unwrap().is_empty());
    }

    #[test]
    fn content_round_trips_through_base64_and_xz() {
        let content = encode_content(DASHBOARD);
        let xz = base64::engine::general_purpose::STANDARD
            .decode(&content)
            .unwrap();
        assert_eq!(&xz[..6], b"\xfd7zXZ\x00", "an xz stream");
        assert!(
            xz.len() < DASHBOARD.len() / 4,
            "compressed: {} bytes",
            xz.len()
        );
        assert_eq!(decode_content(&content).unwrap(), DASHBOARD);
        assert_eq!(content, encode_content(DASHBOARD), "deterministic");
    }

    #[test]
    fn the_value_has_the_library_keys_in_its_order() {
        let value = dashboards(&topology());
        assert!(value.starts_with(
            r#"{"templates": {"file:oathkeeper": {"charm": "oathkeeper", "content": ""#
        ));
        assert!(value.contains(r#""juju_topology": {"model": "iam", "model_uuid": "0b4a7c1e-0000-4000-8000-000000000000", "application": "oathkeeper", "unit": "oathkeeper/0"}, "inject_dropdowns": true, "dashboard_alt_uid": "776dade948431924"}}, "uuid": ""#));
        let parsed: Value = serde_json::from_str(&value).unwrap();
        assert_eq!(parsed["uuid"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn the_uuid_is_stable_shaped_as_v4_and_follows_the_content() {
        let a = dashboards(&topology());
        assert_eq!(a, dashboards(&topology()), "deterministic");
        let uuid = uuid_of("x");
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{uuid}");
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{uuid}");
        assert_ne!(uuid_of("x"), uuid_of("y"));
        let mut moved = topology();
        moved.unit = "oathkeeper/1".into();
        let uuid = |v: &str| serde_json::from_str::<Value>(v).unwrap()["uuid"].clone();
        assert_ne!(uuid(&a), uuid(&dashboards(&moved)));
    }
}
