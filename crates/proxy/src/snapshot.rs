//! The compiled state every request reads: rule index, pipelines, error handlers.
//!
//! [`compile`] turns the wire config and the loaded rule files into one immutable [`Snapshot`]
//! plus diagnostics. Nothing here is recomputed per request. A rule whose pattern cannot be
//! compiled cannot match and is left out; a rule whose handlers cannot be compiled (unknown,
//! disabled, bad config, bad template) still matches and answers 500, as upstream, so that its
//! URL space fails closed rather than falling through to another rule.

use std::collections::HashMap;

use oathkeeper_core::config::{
    Authenticators, Authorizers, Config, ErrorHandlers, HandlerSwitch, Mutators,
};
use oathkeeper_core::index::{IndexEntry, RuleIndex};
use oathkeeper_core::matcher::{Compiler, Strategy};
use oathkeeper_core::merge::deep_merge;
use oathkeeper_core::rule::{Handler, Rule};

use crate::pipeline::error_handler::{ErrorHandler, Fallback};
use crate::pipeline::{CompileCx, Pipeline, SessionStores, authn, authz, mutate};

/// The rules of one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The repository URL the rules came from.
    pub source: String,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The rule or file is not served as written.
    Error,
    /// Served, but probably not what was meant.
    Warning,
}

/// A problem found while compiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The repository.
    pub source: String,
    /// The rule id, when the problem is in one rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// One rule as a request sees it.
#[derive(Debug)]
pub struct CompiledRule {
    /// The rule id.
    pub id: String,
    /// The repository it came from.
    pub source: String,
    /// The pipeline, or why the rule answers 500.
    pub pipeline: Result<Pipeline, String>,
    /// The rule's own error handlers.
    pub errors: Box<[ErrorHandler]>,
}

/// Everything a decision reads, swapped atomically on reload.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Finds the rule for a URL; entry positions index `compiled`.
    pub index: RuleIndex,
    /// Compiled rules, parallel to the index entries.
    pub compiled: Vec<CompiledRule>,
    /// Every loaded rule, in repository order (the `/rules` API).
    pub rules: Vec<Rule>,
    /// `errors.fallback`, compiled.
    pub fallback: Box<[Fallback]>,
    /// The matching strategy.
    pub strategy: Strategy,
    /// Problems found while compiling.
    pub diagnostics: Vec<Diagnostic>,
    /// Session stores (clients and caches) in use, to be reused by the next compile.
    pub session_stores: SessionStores,
}

impl Snapshot {
    /// Warnings for pairs of rules that match the same URLs (each answers 500 there).
    pub fn overlap_diagnostics(&self) -> Vec<Diagnostic> {
        self.index
            .overlaps()
            .into_iter()
            .map(|[a, b]| {
                let (a, b) = (&self.compiled[a], &self.compiled[b]);
                Diagnostic {
                    severity: Severity::Warning,
                    source: a.source.clone(),
                    rule: Some(a.id.clone()),
                    message: format!(
                        "rules \"{}\" and \"{}\" (in {}) match the same URLs; requests to them get 500",
                        a.id, b.id, b.source
                    ),
                }
            })
            .collect()
    }

    /// Rules that can match (the `rules_loaded` readiness criterion).
    pub fn rule_count(&self) -> usize {
        self.compiled.len()
    }
}

/// Compiles `config` and `files` into a snapshot, with every diagnostic, overlaps included.
pub fn compile(config: &Config, files: &[RuleFile], previous: SessionStores) -> Snapshot {
    let mut snapshot = compile_rules(config, files, previous);
    let overlaps = snapshot.overlap_diagnostics();
    snapshot.diagnostics.extend(overlaps);
    snapshot
}

/// Compiles `config` and `files` into a snapshot, reusing the session stores of the previous
/// snapshot whose config did not change (their connections and cached sessions survive).
/// Overlaps are not probed here: [`Snapshot::overlap_diagnostics`] does it, so a reload can
/// serve the new rules first and look for overlaps afterwards.
pub fn compile_rules(config: &Config, files: &[RuleFile], previous: SessionStores) -> Snapshot {
    let mut cx = CompileCx::new(previous);
    let mut diagnostics = Vec::new();
    let fallback = compile_fallback(config);
    for (name, entry) in config.errors.fallback.iter().zip(fallback.iter()) {
        if let Err(message) = entry {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                source: "config".to_owned(),
                rule: None,
                message: format!("errors.fallback \"{name}\": {message}"),
            });
        }
    }
    check_global_handlers(config, &mut cx, &mut diagnostics);
    let strategy = config.access_rules.matching_strategy;
    let mut compiler = Compiler::new(strategy);
    let mut entries = Vec::new();
    let mut compiled = Vec::new();
    let mut rules = Vec::new();
    let mut seen_ids: HashMap<&str, &str> = HashMap::new();
    for file in files {
        for rule in &file.rules {
            rules.push(rule.clone());
            let mut report = |severity, message: String| {
                diagnostics.push(Diagnostic {
                    severity,
                    source: file.source.clone(),
                    rule: Some(rule.id.clone()),
                    message,
                })
            };
            if let Some(previous) = seen_ids.insert(&rule.id, &file.source) {
                report(
                    Severity::Warning,
                    format!("duplicate rule id \"{}\" (also in {previous})", rule.id),
                );
            }
            if rule.matcher.url.is_empty() {
                report(
                    Severity::Error,
                    format!(
                        "rule \"{}\": match.url is empty; the rule is ignored",
                        rule.id
                    ),
                );
                continue;
            }
            cx.begin_rule();
            let (pipeline, errors) = match compile_rule(config, rule, &mut cx) {
                Ok((p, e)) => (Ok(p), e),
                Err(message) => {
                    report(
                        Severity::Error,
                        format!(
                            "rule \"{}\": {message}; requests matching it get 500",
                            rule.id
                        ),
                    );
                    (Err(message), Box::default())
                }
            };
            let matcher = match compiler.compile(&rule.matcher.url, cx.rule_uses_match_context()) {
                Ok(m) => m,
                Err(e) => {
                    report(
                        Severity::Error,
                        format!("rule \"{}\": {e}; the rule is ignored", rule.id),
                    );
                    continue;
                }
            };
            entries.push(IndexEntry {
                methods: rule.matcher.methods.clone(),
                matcher,
            });
            compiled.push(CompiledRule {
                id: rule.id.clone(),
                source: file.source.clone(),
                pipeline,
                errors,
            });
        }
    }
    let index = RuleIndex::build(entries);
    Snapshot {
        index,
        compiled,
        rules,
        fallback,
        strategy,
        diagnostics,
        session_stores: cx.into_stores(),
    }
}

/// Compiles every enabled handler's global config on its own, so that a typo or a wrong type
/// in `oathkeeper.yaml` is reported at load even before a rule uses the handler. Keys a rule
/// may still supply (missing required fields) are not reported here.
fn check_global_handlers(config: &Config, cx: &mut CompileCx, diagnostics: &mut Vec<Diagnostic>) {
    let mut problems = Vec::new();
    check_family(
        "authenticators",
        Authenticators::IDS,
        |id| config.authenticators.get(id),
        &mut problems,
        |id, c| authn::Authenticator::compile(id, c, cx).map(drop),
    );
    check_family(
        "authorizers",
        Authorizers::IDS,
        |id| config.authorizers.get(id),
        &mut problems,
        |id, c| authz::Authorizer::compile(id, c, cx).map(drop),
    );
    check_family(
        "mutators",
        Mutators::IDS,
        |id| config.mutators.get(id),
        &mut problems,
        |id, c| mutate::Mutator::compile(id, c, cx).map(drop),
    );
    check_family(
        "errors.handlers",
        ErrorHandlers::IDS,
        |id| config.errors.handlers.get(id),
        &mut problems,
        |id, c| ErrorHandler::compile(id, c).map(drop),
    );
    for (key, message) in problems {
        if message.contains("missing field") || message.contains("is required") {
            continue;
        }
        diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            source: "config".to_owned(),
            rule: None,
            message: format!("{key}: {message}"),
        });
    }
}

/// Compiles the global config of every enabled handler of one family, collecting failures
/// as `(key, message)`.
fn check_family<'c>(
    family: &str,
    ids: &[&str],
    switch: impl Fn(&str) -> Option<&'c HandlerSwitch>,
    problems: &mut Vec<(String, String)>,
    mut compile: impl FnMut(&str, &serde_json::Value) -> Result<(), String>,
) {
    for id in ids {
        if let Some(switch) = switch(id).filter(|s| s.enabled)
            && let Err(e) = compile(id, &deep_merge(switch.config.as_ref(), None))
        {
            problems.push((format!("{family}.{id}"), e));
        }
    }
}

fn compile_fallback(config: &Config) -> Box<[Fallback]> {
    config
        .errors
        .fallback
        .iter()
        .map(|name| {
            let switch = config
                .errors
                .handlers
                .get(name)
                .ok_or_else(|| format!("unknown error handler \"{name}\""))?;
            enabled("error handler", name, switch)?;
            ErrorHandler::compile(name, &deep_merge(switch.config.as_ref(), None))
        })
        .collect()
}

fn enabled(family: &str, id: &str, switch: &HandlerSwitch) -> Result<(), String> {
    if switch.enabled {
        Ok(())
    } else {
        Err(format!("{family} \"{id}\" is disabled per configuration"))
    }
}

fn compile_rule(
    config: &Config,
    rule: &Rule,
    cx: &mut CompileCx,
) -> Result<(Pipeline, Box<[ErrorHandler]>), String> {
    if rule.authenticators.is_empty() {
        return Err("no authenticators are configured".to_owned());
    }
    if rule.authorizer.handler.is_empty() {
        return Err("no authorizer is configured".to_owned());
    }
    if rule.mutators.is_empty() {
        return Err("no mutators are configured".to_owned());
    }
    let authenticators = rule
        .authenticators
        .iter()
        .map(|h| {
            let config = merged("authenticator", h, config.authenticators.get(&h.handler))?;
            authn::Authenticator::compile(&h.handler, &config, cx)
        })
        .collect::<Result<_, String>>()?;
    let authorizer = {
        let h = &rule.authorizer;
        let merged = merged("authorizer", h, config.authorizers.get(&h.handler))?;
        authz::Authorizer::compile(&h.handler, &merged, cx)?
    };
    let mutators = rule
        .mutators
        .iter()
        .map(|h| {
            let config = merged("mutator", h, config.mutators.get(&h.handler))?;
            mutate::Mutator::compile(&h.handler, &config, cx)
        })
        .collect::<Result<_, String>>()?;
    let errors = rule
        .errors
        .iter()
        .map(|h| {
            let merged = merged("error handler", h, config.errors.handlers.get(&h.handler))?;
            ErrorHandler::compile(&h.handler, &merged)
        })
        .collect::<Result<_, String>>()?;
    Ok((
        Pipeline {
            authenticators,
            authorizer,
            mutators,
        },
        errors,
    ))
}

/// Checks that handler `h` exists and is enabled, and merges its configs.
fn merged(
    family: &str,
    h: &Handler,
    switch: Option<&HandlerSwitch>,
) -> Result<serde_json::Value, String> {
    let switch = switch.ok_or_else(|| format!("unknown {family} \"{}\"", h.handler))?;
    enabled(family, &h.handler, switch)?;
    Ok(deep_merge(switch.config.as_ref(), h.config.as_ref()))
}

#[cfg(test)]
mod tests;
