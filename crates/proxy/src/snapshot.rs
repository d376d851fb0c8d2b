//! The compiled state every request reads: rule index, pipelines, error handlers.
//!
//! [`compile`] turns the wire config and the loaded rule files into one immutable [`Snapshot`]
//! plus diagnostics. Nothing here is recomputed per request.
//!
//! A rules file loads all or nothing. A rule that cannot enter the index (empty or invalid
//! pattern) would leave its URL space to whatever other rule matches there, perhaps a broader
//! allow that the missing rule overlapped; so the whole file is set aside and its last good
//! version (see [`compile_files`]) serves instead, or none on a first load. A rule whose
//! handlers cannot be compiled (unknown, disabled, bad config, bad template) still matches and
//! is reported; a request fails with a 500 at the step that cannot run, after the steps before
//! it (upstream's order: an unauthenticated request is still a 401), and through the rule's
//! error handlers. Its URL space fails closed, and a config change that disables a handler
//! takes effect rather than reviving an old file.

mod stored;

use std::collections::HashMap;
use std::sync::Arc;

use oathkeeper_core::config::{
    Authenticators, Authorizers, Config, ErrorHandlers, HandlerSwitch, Mutators,
};
use oathkeeper_core::handler::Family;
use oathkeeper_core::index::{Entry, Methods, RuleIndex};
use oathkeeper_core::matcher::{Compiler, Strategy};
use oathkeeper_core::merge::deep_merge;
use oathkeeper_core::rule::{Handler, Rule};

use crate::pipeline::error_handler::{ErrorHandler, Fallback};
use crate::pipeline::{Broken, CompileCx, Pipeline, SessionStores, Step, authn, authz, mutate};

pub use crate::pipeline::CompileError;
pub use stored::{Rules, StoredRules};

/// The rules of one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The repository URL the rules came from.
    pub repository: String,
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
    /// The repository URL, or `config` for a problem of the config file.
    pub repository: String,
    /// The rule id, when the problem is in one rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// A rules file to compile, with the version that serves when one of its rules cannot compile.
#[derive(Debug, Clone, Copy)]
pub struct Versions<'a> {
    /// The repository URL (for a ConfigMap, `<url>#<key>`).
    pub repository: &'a str,
    /// The rules as the file says now.
    pub current: Version<'a>,
    /// The last version of the file whose every rule compiled; `None` before there is one.
    pub last_good: Option<&'a StoredRules>,
}

/// A version of a rules file.
#[derive(Debug, Clone, Copy)]
pub enum Version<'a> {
    /// Just parsed.
    Parsed(&'a [Rule]),
    /// Kept from an earlier load (parsed again to compile).
    Stored(&'a StoredRules),
}

/// What became of one rules file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Every rule compiled: the file serves as it is now, kept as these stored rules (the
    /// file's last good version from now on).
    Loaded(StoredRules),
    /// A rule cannot be compiled: the last good version serves (`kept` rules, 0 when there is
    /// none), and `reason` says which rule and why.
    Rejected {
        /// The first rule that cannot compile and why, and what serves instead.
        reason: String,
        /// How many rules of the last good version serve.
        kept: usize,
    },
}

/// One rule as a request sees it.
#[derive(Debug)]
pub struct CompiledRule {
    /// The rule id.
    pub id: String,
    /// The repository it came from.
    pub repository: Arc<str>,
    /// The pipeline; a step that cannot run fails requests that reach it. Rules with the same
    /// handlers and handler configs share one.
    pub pipeline: Arc<Pipeline>,
    /// The rule's own error handlers (shared like the pipeline), or why they cannot be built
    /// (a failing request then gets a 500).
    pub errors: Step<Arc<[ErrorHandler]>>,
    /// The first problem of the rule, as reported at load, if any.
    pub problem: Option<Arc<str>>,
}

/// Everything a decision reads, swapped atomically on reload.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Finds the rule for a URL; entry positions index `compiled`.
    pub index: RuleIndex,
    /// Compiled rules, parallel to the index entries.
    pub compiled: Vec<CompiledRule>,
    /// Every loaded rule, in repository order (the `/rules` API), parallel to `compiled`.
    pub rules: Rules,
    /// `errors.fallback`, compiled.
    pub fallback: Box<[Fallback]>,
    /// The matching strategy.
    pub strategy: Strategy,
    /// Problems found while compiling.
    pub diagnostics: Vec<Diagnostic>,
    /// Session stores (clients and caches) in use, to be reused by the next compile.
    pub session_stores: SessionStores,
    /// The key sets the global `id_token` config signs with (when it names one), whose public
    /// halves `/.well-known/jwks.json` serves beside the rules' sets, as upstream does.
    pub global_signing_keys: Option<Arc<crate::jwks::JwksSource>>,
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
                    repository: a.repository.to_string(),
                    rule: Some(a.id.clone()),
                    message: format!(
                        "rules \"{}\" and \"{}\" (in {}) match the same URLs; requests to them get 500",
                        a.id, b.id, b.repository
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
/// A file with a rule that cannot compile contributes no rule. Overlaps are not probed here:
/// [`Snapshot::overlap_diagnostics`] does it, so a reload can serve the new rules first and
/// look for overlaps afterwards.
pub fn compile_rules(config: &Config, files: &[RuleFile], previous: SessionStores) -> Snapshot {
    let versions: Vec<Versions<'_>> = files
        .iter()
        .map(|f| Versions {
            repository: &f.repository,
            current: Version::Parsed(&f.rules),
            last_good: None,
        })
        .collect();
    compile_files(config, &versions, previous).0
}

/// Compiles like [`compile_rules`], all or nothing per file: a file with a rule that cannot
/// enter the index serves its `last_good` version whole instead (or no rule without one).
/// Returns what became of each file, in order.
pub fn compile_files(
    config: &Config,
    files: &[Versions<'_>],
    previous: SessionStores,
) -> (Snapshot, Vec<FileOutcome>) {
    let mut shared = Shared {
        cx: CompileCx::new(previous),
        compiler: Compiler::new(config.access_rules.matching_strategy),
        pipelines: HashMap::new(),
    };
    let mut diagnostics = Vec::new();
    let fallback = compile_fallback(config);
    for (name, entry) in config.errors.fallback.iter().zip(fallback.iter()) {
        if let Err(message) = entry {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                repository: CONFIG.to_owned(),
                rule: None,
                message: format!("errors.fallback \"{name}\": {message}"),
            });
        }
    }
    let global_signing_keys = check_global_handlers(config, &mut shared.cx, &mut diagnostics);
    let strategy = config.access_rules.matching_strategy;
    let mut entries = Vec::new();
    let mut compiled = Vec::new();
    let mut rules = Rules::default();
    let mut outcomes = Vec::with_capacity(files.len());
    let mut seen_ids: HashMap<String, Arc<str>> = HashMap::new();
    for file in files {
        let repository: Arc<str> = Arc::from(file.repository);
        let (served, outcome) =
            match compile_version(config, &repository, file.current, &mut shared) {
                Ok((stored, parts)) => (Some((stored.clone(), parts)), FileOutcome::Loaded(stored)),
                Err(rejected) => {
                    let first = rejected
                        .first()
                        .map(|d| d.message.clone())
                        .unwrap_or_default();
                    let more = match rejected.len() {
                        0 | 1 => String::new(),
                        n => format!(" (and {} more)", n - 1),
                    };
                    diagnostics.extend(rejected);
                    let fallback = file.last_good.map(|last_good| {
                        compile_version(
                            config,
                            &repository,
                            Version::Stored(last_good),
                            &mut shared,
                        )
                    });
                    let (served, instead) = match fallback {
                        Some(Ok((stored, parts))) => {
                            let instead = format!(
                                "the last good version of the file ({} rules) stays in use",
                                stored.len()
                            );
                            (Some((stored, parts)), instead)
                        }
                        Some(Err(also)) => {
                            diagnostics.extend(also);
                            let instead = "its last good version does not compile either: \
                                           no rule of the file is loaded";
                            (None, instead.to_owned())
                        }
                        None => (None, "no rule of the file is loaded".to_owned()),
                    };
                    let kept = served.as_ref().map_or(0, |(_, parts)| parts.len());
                    let reason = format!("{first}{more}; {instead}");
                    diagnostics.push(Diagnostic {
                        severity: Severity::Error,
                        repository: file.repository.to_owned(),
                        rule: None,
                        message: reason.clone(),
                    });
                    (served, FileOutcome::Rejected { reason, kept })
                }
            };
        outcomes.push(outcome);
        let Some((stored, parts)) = served else {
            continue;
        };
        for part in &parts {
            let id = &part.rule.id;
            if let Some(previous) = seen_ids.insert(id.clone(), Arc::clone(&repository)) {
                diagnostics.push(Diagnostic {
                    severity: Severity::Warning,
                    repository: file.repository.to_owned(),
                    rule: Some(id.clone()),
                    message: format!("duplicate rule id \"{id}\" (also in {previous})"),
                });
            }
        }
        rules.push(stored);
        entries.reserve(parts.len());
        compiled.reserve(parts.len());
        for part in parts {
            diagnostics.extend(part.diagnostic);
            entries.push(part.entry);
            compiled.push(part.rule);
        }
    }
    let index = RuleIndex::from_entries(entries);
    let snapshot = Snapshot {
        index,
        compiled,
        rules,
        fallback,
        strategy,
        diagnostics,
        session_stores: shared.cx.into_stores(),
        global_signing_keys,
    };
    (snapshot, outcomes)
}

/// What the rules of one compile share: handler state, regex engines and pipelines.
struct Shared {
    cx: CompileCx,
    compiler: Compiler,
    /// Compiled pipelines by their rules' handlers and handler configs (as JSON): the charm's
    /// ten thousand rules use a handful of them, so each is compiled (merged, decoded,
    /// validated, its templates parsed) once, and held once.
    pipelines: HashMap<String, SharedPipeline>,
}

/// A pipeline with the error handlers of its rules.
#[derive(Clone)]
struct SharedPipeline {
    pipeline: Arc<Pipeline>,
    errors: Step<Arc<[ErrorHandler]>>,
    /// The first compile error, as reported at load.
    problem: Option<Arc<str>>,
    /// A template reads `.MatchContext`: the rule's capture groups are needed.
    match_context: bool,
}

impl Shared {
    /// The pipeline of `rule`, compiled unless a rule with the same handlers already has one;
    /// and whether its templates read the match context (also for a pipeline that fails).
    fn pipeline(&mut self, config: &Config, rule: &Rule) -> (SharedPipeline, bool) {
        // Keyed by content, never by rule id: every input of `compile_rule` besides `config`.
        let key = serde_json::to_string(&(
            &rule.authenticators,
            &rule.authorizer,
            &rule.mutators,
            &rule.errors,
        ))
        .ok();
        if let Some(hit) = key.as_ref().and_then(|k| self.pipelines.get(k)) {
            return (hit.clone(), hit.match_context);
        }
        self.cx.begin_rule();
        let (pipeline, errors, problem) = compile_rule(config, rule, &mut self.cx);
        let match_context = self.cx.rule_uses_match_context();
        let shared = SharedPipeline {
            pipeline: Arc::new(pipeline),
            errors: errors.map(Arc::from),
            problem: problem.map(|e| e.to_string().into()),
            match_context,
        };
        // Kept with its problem: each rule using it reports it under its own id.
        if let Some(key) = key {
            self.pipelines.insert(key, shared.clone());
        }
        (shared, match_context)
    }
}

/// One rule of a file that compiled: its index entry, the rule, and a problem that leaves it
/// answering 500.
struct Part {
    entry: Entry,
    rule: CompiledRule,
    diagnostic: Option<Diagnostic>,
}

/// Compiles one version of a file: what it serves (its rules kept as [`StoredRules`]) and its
/// compiled rules, or why it cannot serve.
fn compile_version(
    config: &Config,
    repository: &Arc<str>,
    version: Version<'_>,
    shared: &mut Shared,
) -> Result<(StoredRules, Vec<Part>), Vec<Diagnostic>> {
    match version {
        Version::Parsed(rules) => {
            let parts = compile_file(config, repository, rules, shared)?;
            Ok((StoredRules::new(rules), parts))
        }
        Version::Stored(stored) => {
            let rules = stored.rules().map_err(|e| {
                vec![Diagnostic {
                    severity: Severity::Error,
                    repository: repository.to_string(),
                    rule: None,
                    message: format!("the rules kept from an earlier load cannot be read: {e}"),
                }]
            })?;
            let parts = compile_file(config, repository, &rules, shared)?;
            Ok((stored.clone(), parts))
        }
    }
}

/// Compiles every rule of one file, or says (one error each) which rules cannot enter the index.
fn compile_file(
    config: &Config,
    repository: &Arc<str>,
    rules: &[Rule],
    shared: &mut Shared,
) -> Result<Vec<Part>, Vec<Diagnostic>> {
    let mut parts = Vec::with_capacity(rules.len());
    let mut rejected = Vec::new();
    for rule in rules {
        let diagnostic = |message: String| Diagnostic {
            severity: Severity::Error,
            repository: repository.to_string(),
            rule: Some(rule.id.clone()),
            message,
        };
        if rule.matcher.url.is_empty() {
            rejected.push(diagnostic(format!(
                "rule \"{}\": match.url is empty",
                rule.id
            )));
            continue;
        }
        let (compiled, match_context) = shared.pipeline(config, rule);
        let problem = compiled.problem.as_ref().map(|error| {
            diagnostic(format!(
                "rule \"{}\": {error}; requests matching it get 500 at that step",
                rule.id
            ))
        });
        let matcher = match shared.compiler.compile(&rule.matcher.url, match_context) {
            Ok(m) => m,
            Err(e) => {
                rejected.push(diagnostic(format!("rule \"{}\": {e}", rule.id)));
                continue;
            }
        };
        // Once a rule is rejected, the rest only needs checking.
        if rejected.is_empty() {
            parts.push(Part {
                entry: Entry {
                    methods: Methods::new(&rule.matcher.methods),
                    matcher,
                },
                rule: CompiledRule {
                    id: rule.id.clone(),
                    repository: Arc::clone(repository),
                    pipeline: compiled.pipeline,
                    errors: compiled.errors,
                    problem: compiled.problem,
                },
                diagnostic: problem,
            });
        }
    }
    if rejected.is_empty() {
        Ok(parts)
    } else {
        Err(rejected)
    }
}

/// The repository of a diagnostic about the config file itself.
const CONFIG: &str = "config";

/// Compiles every enabled handler's global config on its own, so that a typo or a wrong type
/// in `oathkeeper.yaml` is reported at load even before a rule uses the handler. Keys a rule
/// may still supply (missing required keys) are not reported here.
/// Returns the key source of the global `id_token` config, when it compiles.
fn check_global_handlers(
    config: &Config,
    cx: &mut CompileCx,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Arc<crate::jwks::JwksSource>> {
    let mut problems = Vec::new();
    let mut signing_keys = None;
    check_family(
        Family::Authenticator,
        Authenticators::IDS,
        |id| config.authenticators.get(id),
        &mut problems,
        |id, c| authn::Authenticator::compile(id, c, cx).map(drop),
    );
    check_family(
        Family::Authorizer,
        Authorizers::IDS,
        |id| config.authorizers.get(id),
        &mut problems,
        |id, c| authz::Authorizer::compile(id, c, cx).map(drop),
    );
    check_family(
        Family::Mutator,
        Mutators::IDS,
        |id| config.mutators.get(id),
        &mut problems,
        |id, c| {
            let mutator = mutate::Mutator::compile(id, c, cx)?;
            if let mutate::Mutator::IdToken(t) = &mutator {
                signing_keys = Some(Arc::clone(t.keys()));
            }
            Ok(())
        },
    );
    check_family(
        Family::ErrorHandler,
        ErrorHandlers::IDS,
        |id| config.errors.handlers.get(id),
        &mut problems,
        |id, c| ErrorHandler::compile(id, c).map(drop),
    );
    for (key, error) in problems {
        if let CompileError::MissingKey { .. } = error {
            continue;
        }
        diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            repository: CONFIG.to_owned(),
            rule: None,
            message: format!("{key}: {error}"),
        });
    }
    signing_keys
}

/// Compiles the global config of every enabled handler of one family, collecting failures
/// with the handler's config key (`authenticators.anonymous`).
fn check_family<'c>(
    family: Family,
    ids: &[&str],
    switch: impl Fn(&str) -> Option<&'c HandlerSwitch>,
    problems: &mut Vec<(String, CompileError)>,
    mut compile: impl FnMut(&str, &serde_json::Value) -> Result<(), CompileError>,
) {
    for id in ids {
        if let Some(switch) = switch(id).filter(|s| s.enabled)
            && let Err(e) = compile(id, &deep_merge(switch.config.as_ref(), None))
        {
            problems.push((format!("{}.{id}", family.config_key()), e));
        }
    }
}

fn compile_fallback(config: &Config) -> Box<[Fallback]> {
    config
        .errors
        .fallback
        .iter()
        .map(|name| {
            let switch = config.errors.handlers.get(name);
            let merged = merged(Family::ErrorHandler, name, switch, None)?;
            ErrorHandler::compile(name, &merged)
        })
        .collect()
}

/// Compiles every step of `rule`: a step that cannot be built becomes a [`Broken`] one, which
/// fails the requests that reach it. Also the first problem, in the order the report has
/// always used: a missing step, then the handlers in pipeline order, then the error handlers.
fn compile_rule(
    config: &Config,
    rule: &Rule,
    cx: &mut CompileCx,
) -> (Pipeline, Step<Box<[ErrorHandler]>>, Option<CompileError>) {
    let mut problem = None;
    if rule.authenticators.is_empty() {
        problem = Some(CompileError::NoAuthenticators);
    } else if rule.authorizer.handler.is_empty() {
        problem = Some(CompileError::NoAuthorizer);
    } else if rule.mutators.is_empty() {
        problem = Some(CompileError::NoMutators);
    }
    let authenticators = rule
        .authenticators
        .iter()
        .map(|h| {
            let switch = config.authenticators.get(&h.handler);
            let compiled = rule_config(Family::Authenticator, h, switch)
                .and_then(|config| authn::Authenticator::compile(&h.handler, &config, cx));
            step(&mut problem, compiled)
        })
        .collect();
    let authorizer = if rule.authorizer.handler.is_empty() {
        Err(Broken::new(&CompileError::NoAuthorizer))
    } else {
        let h = &rule.authorizer;
        let compiled = rule_config(Family::Authorizer, h, config.authorizers.get(&h.handler))
            .and_then(|merged| authz::Authorizer::compile(&h.handler, &merged, cx));
        step(&mut problem, compiled)
    };
    let mutators = if rule.mutators.is_empty() {
        Err(Broken::new(&CompileError::NoMutators))
    } else {
        let compiled = rule
            .mutators
            .iter()
            .map(|h| {
                let config = rule_config(Family::Mutator, h, config.mutators.get(&h.handler))?;
                mutate::Mutator::compile(&h.handler, &config, cx)
            })
            .collect::<Result<_, _>>();
        step(&mut problem, compiled)
    };
    let errors = rule
        .errors
        .iter()
        .map(|h| {
            let switch = config.errors.handlers.get(&h.handler);
            let merged = rule_config(Family::ErrorHandler, h, switch)?;
            ErrorHandler::compile(&h.handler, &merged)
        })
        .collect::<Result<_, _>>();
    let errors = step(&mut problem, errors);
    (
        Pipeline {
            authenticators,
            authorizer,
            mutators,
        },
        errors,
        problem,
    )
}

/// `compiled` as a step, its error kept in `problem` when it is the first.
fn step<T>(problem: &mut Option<CompileError>, compiled: Result<T, CompileError>) -> Step<T> {
    compiled.map_err(|error| {
        let broken = Broken::new(&error);
        problem.get_or_insert(error);
        broken
    })
}

/// The merged config of the rule's handler `h`, which must exist and be enabled.
fn rule_config(
    family: Family,
    h: &Handler,
    switch: Option<&HandlerSwitch>,
) -> Result<serde_json::Value, CompileError> {
    merged(family, &h.handler, switch, h.config.as_ref())
}

/// Checks that handler `id` exists and is enabled, and merges `rule` over its global config.
fn merged(
    family: Family,
    id: &str,
    switch: Option<&HandlerSwitch>,
    rule: Option<&serde_json::Value>,
) -> Result<serde_json::Value, CompileError> {
    let id_owned = || id.to_owned();
    let switch = switch.ok_or_else(|| CompileError::UnknownHandler {
        family,
        id: id_owned(),
    })?;
    if !switch.enabled {
        return Err(CompileError::DisabledHandler {
            family,
            id: id_owned(),
        });
    }
    Ok(deep_merge(switch.config.as_ref(), rule))
}

#[cfg(test)]
mod tests;
