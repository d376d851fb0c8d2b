//! Facts: what the snapshot's relations and config mean, parsed once for the desired state
//! ([`crate::reconcile`]), and the one status they give ([`Facts::status`]).
//!
//! Pure, like the reconcile: a bad databag or option becomes an error value here, and a status.

use std::collections::BTreeSet;

use crate::relation::auth_proxy::{self, AuthProxyConfig};
use crate::relation::kratos_info::{self, KratosInfo};
use crate::relation::logging::{self, LokiEndpoint};
use crate::relation::tracing::{self, OtlpReceiver};
use crate::relation::{FieldError, certificates, forward_auth, ingress};
use crate::rules::{self, RuleFile};
use crate::snapshot::{ClusterState, Snapshot};
use crate::status::{self, StatusKind, StatusValue};
use crate::workload;

/// One auth-proxy requirer, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuthProxyApp {
    /// The relation id.
    pub relation_id: u64,
    /// The requirer app.
    pub app: String,
    /// `Ok(None)`: nothing written yet; `Ok(Some)`: its config and rules files; `Err`: why its
    /// rules are not published.
    pub state: Result<Option<(AuthProxyConfig, Vec<RuleFile>)>, FieldError>,
}

/// What the snapshot's relations mean, parsed once for the desired state and the status.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    /// Every auth-proxy relation.
    pub auth_proxy: Vec<AuthProxyApp>,
    /// Apps to protect: every requirer that wrote data, valid or not, so that an app whose
    /// data is invalid stays behind the proxy (and is denied) rather than exposed. Sorted.
    pub app_names: Vec<String>,
    /// The union of valid requirers' headers, sorted.
    pub headers: Vec<String>,
    /// Kratos' endpoints, when related with valid data.
    pub kratos: Option<KratosInfo>,
    /// Our ingress URL, when Traefik gave one.
    pub ingress_url: Option<String>,
    /// Traefik's `ingress_app_names` per forward-auth relation (`None`: not written yet).
    pub traefik: Vec<Option<Vec<String>>>,
    /// Invalid databags of other endpoints: (endpoint, remote app) and the error.
    pub invalid_other: Vec<((&'static str, String), FieldError)>,
    /// Where the workload reads its config and rules.
    pub config_source: workload::ConfigSource,
    /// Why the `config-source` option is invalid (the running source is kept meanwhile).
    pub invalid_config: Option<String>,
    /// The version of Ory's server when the image holds it (not ours): it reads mounted
    /// volumes only, whatever `config-source` says.
    pub ory_server: Option<String>,
    /// TLS, decided once: the scheme everything uses, the key, the request, the files.
    pub tls: crate::tls::TlsDecision,
    /// The valid push endpoints of the Loki units (`logging`), by unit.
    pub loki: Vec<LokiEndpoint>,
    /// Tempo's `otlp_http` receiver (`tracing`), when related with valid data: invalid data
    /// configures no tracing (and is named in the status).
    pub tracing: Option<OtlpReceiver>,
}

impl Facts {
    /// Parses the snapshot's relations.
    pub(crate) fn gather(snapshot: &Snapshot) -> Facts {
        let mut facts = Facts::default();
        match workload::ConfigSource::parse(&snapshot.config.config_source) {
            Ok(config_source) => facts.config_source = config_source,
            Err(problem) => {
                // Keep what runs: a typo in the option must not move the workload.
                facts.config_source =
                    workload::ConfigSource::of_plan(&snapshot.container.plan).unwrap_or_default();
                facts.invalid_config = Some(problem);
            }
        }
        if let Some(server) = snapshot.server().filter(|s| s.is_ory()) {
            // Ory's server cannot read `k8s://`: mount, as the Python charm did.
            facts.config_source = workload::ConfigSource::MountedVolumes;
            facts.ory_server = Some(server.version().to_owned());
        }
        let mut app_names = BTreeSet::new();
        let mut headers = BTreeSet::new();
        for relation in &snapshot.relations.auth_proxy {
            let app = relation.remote_app.clone();
            let state = auth_proxy::parse(&relation.remote_app_data).and_then(|parsed| {
                parsed
                    .map(|config| {
                        let files = rules::render_rules(&app, &config)?;
                        Ok((config, files))
                    })
                    .transpose()
            });
            if !relation.remote_app_data.is_empty() {
                app_names.insert(app.clone());
            }
            if let Ok(Some((config, _))) = &state {
                headers.extend(config.headers.iter().cloned());
            }
            facts.auth_proxy.push(AuthProxyApp {
                relation_id: relation.id,
                app,
                state,
            });
        }
        facts.app_names = app_names.into_iter().collect();
        facts.headers = headers.into_iter().collect();
        if let Some(relation) = &snapshot.relations.kratos_info {
            match kratos_info::parse(&relation.remote_app_data) {
                Ok(info) => facts.kratos = info,
                Err(e) => facts
                    .invalid_other
                    .push(((kratos_info::ENDPOINT, relation.remote_app.clone()), e)),
            }
        }
        if let Some(relation) = &snapshot.relations.ingress {
            match ingress::parse_provider(&relation.remote_app_data) {
                Ok(url) => facts.ingress_url = url,
                Err(e) => facts
                    .invalid_other
                    .push(((ingress::ENDPOINT, relation.remote_app.clone()), e)),
            }
        }
        for relation in &snapshot.relations.forward_auth {
            match forward_auth::parse_requirer(&relation.remote_app_data) {
                Ok(names) => facts.traefik.push(names),
                Err(e) => facts
                    .invalid_other
                    .push(((forward_auth::ENDPOINT, relation.remote_app.clone()), e)),
            }
        }
        if let Some(relation) = &snapshot.relations.logging {
            // A unit with bad data is left out (and named in the status); the others still
            // get the logs.
            for (unit, bag) in &relation.remote_unit_data {
                match logging::parse_unit(unit, bag) {
                    Ok(endpoint) => facts.loki.extend(endpoint),
                    Err(e) => facts
                        .invalid_other
                        .push(((logging::ENDPOINT, relation.remote_app.clone()), e)),
                }
            }
        }
        if let Some(relation) = &snapshot.relations.tracing {
            match tracing::parse_provider(&relation.remote_app_data) {
                Ok(receiver) => facts.tracing = receiver,
                Err(e) => facts
                    .invalid_other
                    .push(((tracing::ENDPOINT, relation.remote_app.clone()), e)),
            }
        }
        facts.tls = crate::tls::decide(snapshot);
        if let Some((app, error)) = &facts.tls.invalid {
            facts
                .invalid_other
                .push(((certificates::ENDPOINT, app.clone()), error.clone()));
        }
        facts
    }

    /// The unit status the world has once this hook's effects apply, with a fixed priority:
    /// every applicable status is collected, the highest kind wins (blocked > waiting >
    /// maintenance > active), and within a kind the first collected (the order below) wins.
    pub(crate) fn status(&self, snapshot: &Snapshot) -> StatusValue {
        let mut found: Vec<StatusValue> = Vec::new();
        let mut push = |kind, message: String| found.push(StatusValue::new(kind, message));

        if snapshot.kubernetes == ClusterState::Forbidden {
            push(StatusKind::Blocked, status::missing_trust(&snapshot.app));
        }
        if let Some(problem) = &self.invalid_config {
            push(StatusKind::Blocked, problem.clone());
        }
        for app in &self.auth_proxy {
            if let Err(error) = &app.state {
                push(
                    StatusKind::Blocked,
                    status::invalid_relation_data(auth_proxy::ENDPOINT, &app.app, error),
                );
            }
        }
        for (remote, error) in &self.invalid_other {
            push(
                StatusKind::Blocked,
                status::invalid_relation_data(remote.0, &remote.1, error),
            );
        }
        if let Some(app) = self.unrouted_app() {
            push(StatusKind::Blocked, status::not_related_via_ingress(app));
        }
        // The status describes the world after this hook's effects apply; a stopped service is
        // replanned by them, so it is not a reason to wait (apply reports a failed replan).
        if !snapshot.container.can_connect {
            push(
                StatusKind::Waiting,
                status::WAITING_FOR_CONTAINER.to_owned(),
            );
        }
        if snapshot.leader && snapshot.relations.peer.is_none() && !self.auth_proxy.is_empty() {
            push(StatusKind::Waiting, status::WAITING_FOR_PEER.to_owned());
        }
        // After every other waiting reason: the API works over http meanwhile.
        if let Some((provider, why)) = &self.tls.pending {
            push(
                StatusKind::Waiting,
                status::certificate_pending(provider, why),
            );
        }
        if let Some(version) = &self.ory_server {
            // Before READY: the first active status collected wins.
            push(StatusKind::Active, status::running_ory(version));
        }
        if self.forward_auth_ready() {
            push(StatusKind::Active, status::READY.to_owned());
        }
        found.into_iter().min_by_key(|s| s.kind).unwrap_or_default()
    }

    /// The first protected app (by name) that a forward-auth requirer does not route, as a
    /// list membership test on the decoded `ingress_app_names`.
    // Differs from upstream: upstream tests for a substring of the JSON text, so `app` counts
    // as routed when only `app-2` is.
    // A Traefik that has not written `ingress_app_names` yet is waited for, as upstream does:
    // a missing key is not an empty list (issue 15).
    pub(crate) fn unrouted_app(&self) -> Option<&str> {
        self.traefik.iter().flatten().find_map(|names| {
            self.app_names
                .iter()
                .find(|app| !names.contains(app))
                .map(String::as_str)
        })
    }

    /// Whether Traefik routes every protected app through us.
    pub(crate) fn forward_auth_ready(&self) -> bool {
        !self.traefik.is_empty()
            && !self.app_names.is_empty()
            && self.traefik.iter().all(Option::is_some)
            && self.unrouted_app().is_none()
    }

    /// Every requirer with valid data, with its rules files.
    pub(crate) fn valid_files(&self) -> impl Iterator<Item = (&AuthProxyApp, &[RuleFile])> {
        self.auth_proxy.iter().filter_map(|app| match &app.state {
            Ok(Some((_, files))) => Some((app, files.as_slice())),
            _ => None,
        })
    }
}
