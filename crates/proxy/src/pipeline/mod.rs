//! The handler pipeline of one rule: authenticators, the authorizer, mutators, error handlers.
//!
//! Every handler is compiled once per reload from its global config deep-merged with the
//! rule's config ([`oathkeeper_core::merge::deep_merge`]); a request only runs the compiled
//! enums. [`Pipeline::run`] reads top to bottom, in upstream's order: authenticators in order
//! until one is responsible, the authorizer, then every mutator. A step that cannot run (its
//! handler is missing, unknown, disabled or misconfigured: a [`Broken`] step, reported at load)
//! fails the request with a 500 **when it is reached**, as upstream's request handler fails at
//! the handler it cannot load: an unauthenticated request to a rule with a disabled mutator is
//! still a 401, a `deny` still a 403.

pub mod authn;
pub mod authz;
pub mod error_handler;
pub mod mutate;
pub mod request;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use oathkeeper_core::handler::{self, Family, KeyError};

pub use crate::denial::{Denial, Kind};
pub use request::{OriginalRequest, Session, TemplateView};

use crate::metrics::Metrics;
use crate::template::{self, Template};

/// The body of every answer the server writes.
pub type ResponseBody = http_body_util::Full<Bytes>;

/// Why a rule's pipeline, or a handler of it, cannot be compiled. A rule with such an error
/// still matches, and a request reaching the step fails there with a 500.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The rule names a handler id the config does not have.
    #[error("unknown {family} \"{id}\"")]
    UnknownHandler {
        /// The family.
        family: Family,
        /// The handler id.
        id: String,
    },
    /// The handler's switch is off (`enabled: false`).
    #[error("{family} \"{id}\" is disabled per configuration")]
    DisabledHandler {
        /// The family.
        family: Family,
        /// The handler id.
        id: String,
    },
    /// The config knows the handler, but this server does not implement it.
    #[error("{family} \"{id}\" is not supported by this server")]
    UnsupportedHandler {
        /// The family.
        family: Family,
        /// The handler id.
        id: String,
    },
    /// A required key is set neither globally nor by the rule.
    #[error("{family} \"{id}\": {key} is required")]
    MissingKey {
        /// The family.
        family: Family,
        /// The handler id.
        id: String,
        /// The key.
        key: &'static str,
    },
    /// The merged config (global ⊕ rule) is not the handler's config.
    #[error("invalid config for {family} \"{id}\": {source}")]
    InvalidConfig {
        /// The family.
        family: Family,
        /// The handler id.
        id: String,
        /// What is wrong.
        #[source]
        source: handler::ConfigError,
    },
    /// A template does not parse.
    #[error("{family} \"{id}\": \"{name}\": invalid template \"{template}\": {source}")]
    Template {
        /// The family.
        family: Family,
        /// The handler id.
        id: String,
        /// What the template sets (a header or cookie name).
        name: String,
        /// The template text.
        template: String,
        /// The parse error.
        #[source]
        source: Box<template::ParseError>,
    },
    /// The rule has no authenticator.
    #[error("no authenticators are configured")]
    NoAuthenticators,
    /// The rule has no authorizer.
    #[error("no authorizer is configured")]
    NoAuthorizer,
    /// The rule has no mutator.
    #[error("no mutators are configured")]
    NoMutators,
}

impl CompileError {
    /// The error for a merged config that does not decode or validate, a missing key and an
    /// unimplemented handler told apart.
    pub fn config(family: Family, id: &str, error: handler::ConfigError) -> CompileError {
        let id = id.to_owned();
        match error {
            handler::ConfigError::Unsupported => CompileError::UnsupportedHandler { family, id },
            handler::ConfigError::Key(KeyError::Missing { key }) => {
                CompileError::MissingKey { family, id, key }
            }
            source => CompileError::InvalidConfig { family, id, source },
        }
    }

    /// The error for key `key` of handler `id` holding the unusable `value`.
    pub fn invalid_key(
        family: Family,
        id: &str,
        key: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> CompileError {
        CompileError::config(family, id, KeyError::invalid(key, value, reason).into())
    }
}

/// A step of a rule's pipeline, or why it cannot run.
pub type Step<T> = Result<T, Broken>;

/// Why a step cannot run: its compile error, as text. Reaching it is a 500.
#[derive(Debug, Clone)]
pub struct Broken(Arc<str>);

impl Broken {
    /// The step that failed to compile with `error`.
    pub fn new(error: &CompileError) -> Broken {
        Broken(error.to_string().into())
    }

    /// Why, as the compile error said it.
    pub fn reason(&self) -> &str {
        &self.0
    }

    /// The denial of a request that reaches the step: a 500.
    pub fn denial(&self) -> Denial {
        Denial::internal(self.0.to_string())
    }
}

/// The compiled pipeline of one rule.
#[derive(Debug)]
pub struct Pipeline {
    /// Authenticators, in order (none: a request fails with a 500).
    pub authenticators: Box<[Step<authn::Authenticator>]>,
    /// The authorizer.
    pub authorizer: Step<authz::Authorizer>,
    /// Mutators, in order (one that cannot run fails the step).
    pub mutators: Step<Box<[mutate::Mutator]>>,
}

impl Pipeline {
    /// Runs the pipeline for `request`, returning the session whose headers answer a 200.
    pub async fn run(
        &self,
        request: &OriginalRequest<'_>,
        captures: Vec<String>,
        cx: &Cx<'_>,
    ) -> Result<Session, Denial> {
        let mut session = Session {
            captures,
            ..Session::default()
        };
        if self.authenticators.is_empty() {
            return Err(Denial::internal(CompileError::NoAuthenticators.to_string()));
        }
        let mut authenticated = false;
        for authenticator in self.authenticators.iter() {
            match authenticator
                .as_ref()
                .map_err(Broken::denial)?
                .authenticate(request, &mut session, cx)
                .await?
            {
                authn::AuthnOutcome::Authenticated => {
                    authenticated = true;
                    break;
                }
                authn::AuthnOutcome::NotResponsible => {}
            }
        }
        if !authenticated {
            return Err(Denial::unauthorized(
                "No authentication handler was responsible for handling the authentication request",
            ));
        }
        self.authorizer
            .as_ref()
            .map_err(Broken::denial)?
            .authorize(request, &mut session)
            .await?;
        let mutators = self.mutators.as_ref().map_err(Broken::denial)?;
        let mut buffer = String::new();
        for mutator in mutators.iter() {
            mutator.mutate(request, &mut session, &mut buffer).await?;
        }
        Ok(session)
    }
}

/// What a request's handlers may use beyond the request: metrics, the decision's span (and,
/// later, a clock). Two references: copying it costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    /// Metrics.
    pub metrics: &'a Metrics,
    /// The decision's span, when it is sampled: the session store's calls are its children.
    pub trace: Option<&'a crate::traces::DecisionSpan>,
}

impl<'a> Cx<'a> {
    /// A context without a span.
    pub fn new(metrics: &'a Metrics) -> Cx<'a> {
        Cx {
            metrics,
            trace: None,
        }
    }
}

/// Session stores by handler id and merged config, kept across reloads.
pub type SessionStores = HashMap<String, Arc<authn::session_store::SessionStore>>;

/// Shared state while compiling one snapshot: templates are parsed once per distinct text,
/// and session stores (clients, caches) are built once per distinct config and carried over
/// from the previous snapshot when their config did not change.
#[derive(Debug, Default)]
pub struct CompileCx {
    templates: HashMap<String, Arc<Template>>,
    previous_stores: SessionStores,
    stores: SessionStores,
    match_context: bool,
}

impl CompileCx {
    /// A context reusing the session stores of the previous snapshot.
    pub fn new(previous_stores: SessionStores) -> CompileCx {
        CompileCx {
            previous_stores,
            ..CompileCx::default()
        }
    }

    /// The session stores built or reused, to keep in the snapshot.
    pub fn into_stores(self) -> SessionStores {
        self.stores
    }

    /// The session store for handler `id` with merged `config`, built by `build` only when
    /// neither this nor the previous snapshot has one with exactly this config.
    pub fn session_store(
        &mut self,
        id: &str,
        config: &serde_json::Value,
        build: impl FnOnce() -> Result<authn::session_store::SessionStore, CompileError>,
    ) -> Result<Arc<authn::session_store::SessionStore>, CompileError> {
        let key = format!("{id}\0{config}");
        if let Some(store) = self.stores.get(&key) {
            return Ok(Arc::clone(store));
        }
        let store = match self.previous_stores.remove(&key) {
            Some(store) => store,
            None => Arc::new(build()?),
        };
        self.stores.insert(key, Arc::clone(&store));
        Ok(store)
    }

    /// Starts compiling a rule: forgets whether the previous one used its match context.
    pub fn begin_rule(&mut self) {
        self.match_context = false;
    }

    /// Whether a template of the current rule reads `.MatchContext` (so the rule's capture
    /// groups must be computed).
    pub fn rule_uses_match_context(&self) -> bool {
        self.match_context
    }

    /// The parsed template for `source`, shared between every handler that uses the same text.
    /// Keyed by content, so an edited template always takes effect (upstream #272).
    pub fn template(&mut self, source: &str) -> Result<Arc<Template>, template::ParseError> {
        self.match_context |= source.contains("MatchContext");
        if let Some(t) = self.templates.get(source) {
            return Ok(Arc::clone(t));
        }
        let template = Arc::new(Template::parse(source)?);
        self.templates
            .insert(source.to_owned(), Arc::clone(&template));
        Ok(template)
    }
}

/// A 429 from a called service passed on with its `Retry-After` and `X-Ratelimit-*` headers
/// (the session store, introspection, token endpoints and remote authorizers do alike).
pub(crate) fn rate_limited(headers: &http::HeaderMap, reason: &'static str) -> Denial {
    let mut passed = http::HeaderMap::new();
    for (name, value) in headers {
        if name == http::header::RETRY_AFTER || name.as_str().starts_with("x-ratelimit-") {
            passed.append(name.clone(), value.clone());
        }
    }
    let mut denial = Denial::upstream(http::StatusCode::TOO_MANY_REQUESTS, reason);
    denial.headers = Some(Box::new(passed));
    denial
}
