//! Snapshot builders for this crate's unit tests:
//! `Snapshot::ready().leader().with_auth_proxy(3, "spark", &requirer(...))`.

use crate::kubernetes::KubernetesObjects;
use crate::relation::auth_proxy::{self, AuthProxyConfig};
use crate::relation::{Databag, forward_auth};
use crate::snapshot::{ClusterState, Relation, Snapshot, UnitAddress};
use crate::{plan, reconcile};

/// The model of the fixtures (upstream's tests use `testing`).
pub const MODEL: &str = "testing";
/// The model UUID of the fixtures.
pub const MODEL_UUID: &str = "0b4a7c1e-0000-4000-8000-000000000000";
/// The app of the fixtures.
pub const APP: &str = "oathkeeper";
/// The peer relation id of [`Snapshot::ready`].
pub const PEER_ID: u64 = 0;
/// Tempo's `otlp_http` receiver in the tracing fixtures.
pub const TEMPO_URL: &str = "http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318";

/// Tempo's `receivers` answer (spec §5.7) with an `otlp_http` receiver at `url`.
pub fn tempo_receivers(url: &str) -> String {
    format!(r#"[{{"protocol": {{"name": "otlp_http", "type": "http"}}, "url": "{url}"}}]"#)
}

/// The Juju topology of unit `oathkeeper/<n>` in model `iam` (the COS relations' fixtures).
pub fn topology(unit_number: u32) -> crate::topology::Topology {
    crate::topology::Topology {
        model: "iam".into(),
        model_uuid: MODEL_UUID.into(),
        application: APP.into(),
        unit: format!("{APP}/{unit_number}"),
        charm_name: crate::topology::CHARM_NAME.into(),
    }
}

/// An auth-proxy requirer config.
pub fn requirer(urls: &[&str], endpoints: &[&str], headers: &[&str]) -> AuthProxyConfig {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    AuthProxyConfig {
        protected_urls: owned(urls),
        allowed_endpoints: owned(endpoints),
        headers: owned(headers),
    }
}

/// A databag from pairs.
pub fn bag(pairs: &[(&str, &str)]) -> Databag {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn relation(id: u64, remote_app: &str, remote_app_data: Databag) -> Relation {
    Relation {
        id,
        remote_app: remote_app.to_owned(),
        remote_units: vec![format!("{remote_app}/0")],
        remote_app_data,
        ..Relation::default()
    }
}

impl Snapshot {
    /// A unit whose container Pebble does not answer yet: no relations, Kubernetes not read.
    pub fn fresh() -> Snapshot {
        Snapshot {
            model: MODEL.to_owned(),
            model_uuid: MODEL_UUID.to_owned(),
            app: APP.to_owned(),
            unit: format!("{APP}/0"),
            ..Snapshot::default()
        }
    }

    /// A unit whose container answers (nothing planned yet), with the peer relation and
    /// readable, empty Kubernetes objects.
    pub fn ready() -> Snapshot {
        let mut s = Snapshot::fresh();
        s.container.can_connect = true;
        s.kubernetes = ClusterState::Observed(KubernetesObjects::default());
        s.relations.peer = Some(relation(PEER_ID, APP, Databag::new()));
        s.unit_address = Some(UnitAddress {
            host: "oathkeeper-0.oathkeeper-endpoints.testing.svc.cluster.local".to_owned(),
            ip: "10.1.0.7".to_owned(),
        });
        s
    }

    /// With `config-source: mounted-volumes` (upstream's way: the ConfigMaps are mounted).
    pub fn mounted(mut self) -> Snapshot {
        self.config.config_source = crate::workload::MOUNTED_VOLUMES.to_owned();
        self
    }

    /// This unit leads.
    pub fn leader(mut self) -> Snapshot {
        self.leader = true;
        self
    }

    /// Kubernetes answers 403 (deployed without `--trust`).
    pub fn untrusted(mut self) -> Snapshot {
        self.kubernetes = ClusterState::Forbidden;
        self
    }

    /// An auth-proxy requirer with a valid config, written as its lib writes it.
    pub fn with_auth_proxy(self, id: u64, app: &str, config: &AuthProxyConfig) -> Snapshot {
        self.with_auth_proxy_data(id, app, auth_proxy::render(config))
    }

    /// An auth-proxy requirer with raw data.
    pub fn with_auth_proxy_data(mut self, id: u64, app: &str, data: Databag) -> Snapshot {
        self.relations.auth_proxy.push(relation(id, app, data));
        self
    }

    /// A forward-auth requirer (Traefik); `None` when it has not written `ingress_app_names`.
    pub fn with_forward_auth(mut self, id: u64, ingress_app_names: Option<&[&str]>) -> Snapshot {
        let data = ingress_app_names
            .map(|names| {
                let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
                forward_auth::render_requirer(&names)
            })
            .unwrap_or_default();
        self.relations
            .forward_auth
            .push(relation(id, "traefik-public", data));
        self
    }

    /// A kratos-info relation with Kratos' two endpoints.
    pub fn with_kratos(mut self, id: u64, sessions: &str, login: &str) -> Snapshot {
        let data = bag(&[
            ("sessions_endpoint", sessions),
            ("login_browser_endpoint", login),
        ]);
        self.relations.kratos_info = Some(relation(id, "kratos", data));
        self
    }

    /// An oathkeeper-info requirer.
    pub fn with_oathkeeper_info(mut self, id: u64, app: &str) -> Snapshot {
        self.relations
            .oathkeeper_info
            .push(relation(id, app, Databag::new()));
        self
    }

    /// An ingress relation; `url` once Traefik answered.
    pub fn with_ingress(mut self, id: u64, url: Option<&str>) -> Snapshot {
        let data = url
            .map(|u| bag(&[("ingress", &format!("{{\"url\": \"{u}\"}}"))]))
            .unwrap_or_default();
        self.relations.ingress = Some(relation(id, "traefik-public", data));
        self
    }

    /// A metrics-endpoint relation with Prometheus; this unit scraped at `address`.
    pub fn with_metrics_endpoint(mut self, id: u64, address: &str) -> Snapshot {
        self.relations
            .metrics_endpoint
            .push(relation(id, "prometheus", Databag::new()));
        self.metrics_address = Some(address.to_owned());
        self
    }

    /// A grafana-dashboard relation with Grafana.
    pub fn with_grafana_dashboard(mut self, id: u64) -> Snapshot {
        self.relations
            .grafana_dashboard
            .push(relation(id, "grafana", Databag::new()));
        self
    }

    /// A logging relation with Loki whose units wrote these `endpoint` values (`None`: not
    /// yet).
    pub fn with_logging(mut self, id: u64, units: &[(&str, Option<&str>)]) -> Snapshot {
        let mut rel = relation(id, "loki", Databag::new());
        rel.remote_units = units.iter().map(|(u, _)| (*u).to_owned()).collect();
        rel.remote_unit_data = units
            .iter()
            .map(|(u, endpoint)| {
                let data = endpoint
                    .map(|e| bag(&[(crate::relation::logging::ENDPOINT_KEY, e)]))
                    .unwrap_or_default();
                ((*u).to_owned(), data)
            })
            .collect();
        self.relations.logging = Some(rel);
        self
    }

    /// A tracing relation with Tempo, whose app databag holds `receivers` (`None`: not
    /// written yet).
    pub fn with_tracing(mut self, id: u64, receivers: Option<&str>) -> Snapshot {
        let data = receivers
            .map(|r| bag(&[(crate::relation::tracing::RECEIVERS, r)]))
            .unwrap_or_default();
        self.relations.tracing = Some(relation(id, "tempo", data));
        self
    }

    /// The snapshot after one hook applied its effects successfully.
    pub fn converged(self) -> Snapshot {
        let desired = reconcile::reconcile(&self);
        let effects = plan::plan(&self, &desired);
        plan::simulate(&self, &effects)
    }
}
