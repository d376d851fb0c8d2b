//! The handler pipeline of one rule: authenticators, the authorizer, mutators, error handlers.
//!
//! Every handler is compiled once per reload from its global config deep-merged with the
//! rule's config ([`oathkeeper_core::merge::deep_merge`]); a request only runs the compiled
//! enums. [`Pipeline::run`] reads top to bottom: authenticators in order until one is
//! responsible, the authorizer, then every mutator.

pub mod authn;
pub mod authz;
pub mod denial;
pub mod error_handler;
pub mod mutate;
pub mod request;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

pub use denial::{Denial, Kind};
pub use request::{OriginalRequest, Session, TemplateView};

use crate::metrics::Metrics;
use crate::template::Template;

/// The body of every answer the server writes.
pub type ResponseBody = http_body_util::Full<Bytes>;

/// The compiled pipeline of one rule.
#[derive(Debug)]
pub struct Pipeline {
    /// Authenticators, in order.
    pub authenticators: Box<[authn::Authenticator]>,
    /// The authorizer.
    pub authorizer: authz::Authorizer,
    /// Mutators, in order.
    pub mutators: Box<[mutate::Mutator]>,
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
        let mut authenticated = false;
        for authenticator in self.authenticators.iter() {
            match authenticator
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
        self.authorizer.authorize()?;
        let mut buffer = String::new();
        for mutator in self.mutators.iter() {
            mutator.mutate(request, &mut session, &mut buffer)?;
        }
        Ok(session)
    }
}

/// What a request's handlers may use beyond the request: metrics (and, later, a clock).
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    /// Metrics.
    pub metrics: &'a Metrics,
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
        build: impl FnOnce() -> Result<authn::session_store::SessionStore, String>,
    ) -> Result<Arc<authn::session_store::SessionStore>, String> {
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
    pub fn template(&mut self, source: &str) -> Result<Arc<Template>, String> {
        self.match_context |= source.contains("MatchContext");
        if let Some(t) = self.templates.get(source) {
            return Ok(Arc::clone(t));
        }
        let template = Arc::new(
            Template::parse(source).map_err(|e| format!("invalid template \"{source}\": {e}"))?,
        );
        self.templates
            .insert(source.to_owned(), Arc::clone(&template));
        Ok(template)
    }
}

/// Decodes a handler's merged config into its wire struct, naming the handler and key on error.
pub(crate) fn decode<T: DeserializeOwned>(
    handler: &str,
    config: &serde_json::Value,
) -> Result<T, String> {
    T::deserialize(config).map_err(|e| format!("invalid config for handler \"{handler}\": {e}"))
}

/// Handlers without config accept only an empty object.
pub(crate) fn no_config(handler: &str, config: &serde_json::Value) -> Result<(), String> {
    match config {
        serde_json::Value::Object(map) if !map.is_empty() => Err(format!(
            "invalid config for handler \"{handler}\": it takes no config, got keys {:?}",
            map.keys().collect::<Vec<_>>()
        )),
        _ => Ok(()),
    }
}

pub(crate) fn unsupported(family: &str, id: &str) -> String {
    format!("{family} \"{id}\" is not supported by this server")
}
