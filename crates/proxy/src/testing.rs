//! Test builders: configs, rules and snapshots as typed values, and table-driven decisions.

use http::{Request, Response, StatusCode};
use oathkeeper_core::config::{Config, HandlerSwitch};
use oathkeeper_core::rule::{Handler, Match, Rule};

use crate::decision::{Peer, decide};
use crate::metrics::Metrics;
use crate::pipeline::{Cx, ResponseBody};
use crate::snapshot::{RuleFile, Snapshot, compile};

/// The handlers most tests use, enabled without global config: authenticators `anonymous`,
/// `noop`, `unauthorized`; authorizers `allow`, `deny`; mutators `noop`, `header`; error
/// handler `www_authenticate` (and `json`, on by default).
pub(crate) fn simple_config() -> Config {
    let mut c = Config::default();
    c.authenticators.anonymous = HandlerSwitch::enabled();
    c.authenticators.noop = HandlerSwitch::enabled();
    c.authenticators.unauthorized = HandlerSwitch::enabled();
    c.authorizers.allow = HandlerSwitch::enabled();
    c.authorizers.deny = HandlerSwitch::enabled();
    c.mutators.noop = HandlerSwitch::enabled();
    c.mutators.header = HandlerSwitch::enabled();
    c.errors.handlers.www_authenticate = HandlerSwitch::enabled();
    c
}

/// A handler reference without config.
pub(crate) fn handler(id: &str) -> Handler {
    Handler {
        handler: id.to_owned(),
        config: None,
    }
}

/// Rule `id` letting `GET url` through: `noop`, `allow`, `noop`.
pub(crate) fn rule(id: &str, url: &str) -> Rule {
    Rule {
        id: id.to_owned(),
        matcher: Match {
            methods: vec!["GET".to_owned()],
            url: url.to_owned(),
        },
        authenticators: vec![handler("noop")],
        authorizer: handler("allow"),
        mutators: vec![handler("noop")],
        ..Rule::default()
    }
}

/// Builder steps on a rule.
pub(crate) trait RuleBuilder {
    /// Matches `methods` instead.
    fn methods(self, methods: &[&str]) -> Self;
    /// Authenticates with `id` alone.
    fn authn(self, id: &str) -> Self;
    /// Authorizes with `id`.
    fn authz(self, id: &str) -> Self;
    /// Mutates with `id` alone.
    fn mutator(self, id: &str) -> Self;
}

impl RuleBuilder for Rule {
    fn methods(mut self, methods: &[&str]) -> Rule {
        self.matcher.methods = methods.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    fn authn(mut self, id: &str) -> Rule {
        self.authenticators = vec![handler(id)];
        self
    }

    fn authz(mut self, id: &str) -> Rule {
        self.authorizer = handler(id);
        self
    }

    fn mutator(mut self, id: &str) -> Rule {
        self.mutators = vec![handler(id)];
        self
    }
}

/// The snapshot of `config` with one rules file per entry of `files` (`test-0`, `test-1`, ...).
pub(crate) fn snapshot(config: &Config, files: Vec<Vec<Rule>>) -> Snapshot {
    let files: Vec<RuleFile> = files
        .into_iter()
        .enumerate()
        .map(|(i, rules)| RuleFile {
            repository: format!("test-{i}"),
            rules,
        })
        .collect();
    compile(config, &files, Default::default())
}

/// The simple config's snapshot with one rule `r` letting `GET url` through.
pub(crate) fn open_rule(url: &str) -> Snapshot {
    snapshot(&simple_config(), vec![vec![rule("r", url)]])
}

/// Asks `snapshot` about a decision request from 127.0.0.1.
pub(crate) async fn ask(
    snapshot: &Snapshot,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Response<ResponseBody> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let metrics = Metrics::new("");
    decide(
        snapshot,
        &parts,
        Peer {
            ip: Some("127.0.0.1".parse().unwrap()),
            tls: false,
        },
        &Cx::new(&metrics),
    )
    .await
    .0
}

/// One decision request and the status it must get.
pub(crate) struct Case<'a> {
    /// The decision request's method.
    pub(crate) method: &'a str,
    /// The decision request's URI.
    pub(crate) uri: &'a str,
    /// Its headers.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// The expected status.
    pub(crate) status: StatusCode,
    /// Why, shown when the case fails.
    pub(crate) why: &'a str,
}

/// `GET uri` with `headers`, expecting `status`.
pub(crate) fn get<'a>(
    uri: &'a str,
    headers: &'a [(&'a str, &'a str)],
    status: StatusCode,
) -> Case<'a> {
    Case {
        method: "GET",
        uri,
        headers,
        status,
        why: "",
    }
}

impl<'a> Case<'a> {
    /// The same request with method `method`.
    pub(crate) fn method(self, method: &'a str) -> Case<'a> {
        Case { method, ..self }
    }

    /// The same case, explained.
    pub(crate) fn why(self, why: &'a str) -> Case<'a> {
        Case { why, ..self }
    }
}

/// Asks every case of the table and checks its status.
pub(crate) async fn check(snapshot: &Snapshot, cases: &[Case<'_>]) {
    for case in cases {
        let response = ask(snapshot, case.method, case.uri, case.headers).await;
        assert_eq!(
            response.status(),
            case.status,
            "{} {} {:?}: {}",
            case.method,
            case.uri,
            case.headers,
            case.why
        );
    }
}
