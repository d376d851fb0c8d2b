//! `metrics-endpoint` (provides, interface `prometheus_scrape`): what the Prometheus charm's
//! `prometheus_scrape` library reads from a metrics provider (spec/charm-parity.md §5.8 and
//! the Addendum).
//!
//! - App databag (leader): `scrape_metadata` (the topology JSON), `scrape_jobs` (one job: the
//!   metrics path on port 9000 of every unit, `*` standing for each unit's address), and
//!   `alert_rules` (`{"groups": [...]}` from `charm/prometheus_alert_rules/`).
//! - Unit databag (every unit): `prometheus_scrape_unit_address` and
//!   `prometheus_scrape_unit_name`. The library also sets `prometheus_scrape_unit_path` to
//!   `""` without an external URL, which Juju stores as no key at all: we write none.
//!
//! The path is the one the workload serves with the config the charm renders
//! (`serve.prometheus.metrics_path: /metrics/prometheus`), which is also Ory Oathkeeper's
//! default: right for both images.

use serde_json::json;

use super::{Databag, json_dumps};
use crate::alert_rules::{self, Language};
use crate::topology::Topology;

/// The endpoint.
pub const ENDPOINT: &str = "metrics-endpoint";
/// App key: the topology.
pub const SCRAPE_METADATA: &str = "scrape_metadata";
/// App key: the scrape jobs.
pub const SCRAPE_JOBS: &str = "scrape_jobs";
/// App key: the alert rules.
pub const ALERT_RULES: &str = "alert_rules";
/// Unit key: where Prometheus scrapes this unit.
pub const UNIT_ADDRESS: &str = "prometheus_scrape_unit_address";
/// Unit key: this unit's name.
pub const UNIT_NAME: &str = "prometheus_scrape_unit_name";
/// Unit key the library writes empty (so Juju has no such key): kept in our ownership so a
/// value someone left there goes.
pub const UNIT_PATH: &str = "prometheus_scrape_unit_path";

/// The keys of our app databag.
pub const APP_KEYS: [&str; 3] = [SCRAPE_METADATA, SCRAPE_JOBS, ALERT_RULES];
/// The keys of our unit databag.
pub const UNIT_KEYS: [&str; 3] = [UNIT_ADDRESS, UNIT_NAME, UNIT_PATH];

/// `scrape_jobs`: one job, the metrics path on `port` of every unit.
pub fn scrape_jobs(metrics_path: &str, port: u16) -> String {
    json_dumps(&json!([{
        "metrics_path": metrics_path,
        "static_configs": [{"targets": [format!("*:{port}")]}],
    }]))
}

/// Our app databag.
pub fn render_app(topology: &Topology, metrics_path: &str, port: u16) -> Databag {
    Databag::from([
        (SCRAPE_METADATA.to_owned(), topology.metadata()),
        (SCRAPE_JOBS.to_owned(), scrape_jobs(metrics_path, port)),
        (
            ALERT_RULES.to_owned(),
            alert_rules::databag_value(alert_rules::PROMETHEUS_RULES, Language::PromQl, topology),
        ),
    ])
}

/// Our unit databag.
pub fn render_unit(address: &str, unit: &str) -> Databag {
    Databag::from([
        (UNIT_ADDRESS.to_owned(), address.to_owned()),
        (UNIT_NAME.to_owned(), unit.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_scrapes_every_unit_on_the_metrics_port() {
        assert_eq!(
            scrape_jobs("/metrics/prometheus", 9000),
            r#"[{"metrics_path": "/metrics/prometheus", "static_configs": [{"targets": ["*:9000"]}]}]"#
        );
    }
}
