//! Loading and hot reload of the config file and the rule repositories.
//!
//! [`Loader::load`] reads the config and every repository, keeps the last good rules of a file
//! that fails to parse (logging the file and line and counting it in a metric), skips the work
//! when no byte changed, and otherwise compiles a new [`Snapshot`] that [`State`] swaps in with
//! one atomic store. [`watch`] runs it on every file-system event in the directories of the
//! config and rule files (a Kubernetes ConfigMap update swaps a `..data` symlink in that
//! directory), debounced, with a slow poll as a safety net.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use oathkeeper_core::config::{Config, Source, parse_config};
use oathkeeper_core::rule::{Rule, parse_rules};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::settings::{ConfigSource, EXAMPLE_CONFIG, EXAMPLE_RULES, EXAMPLE_RULES_SOURCE};
use crate::snapshot::{RuleFile, Severity, Snapshot, compile_rules};

/// How long to wait for more events before reloading.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The safety-net poll period.
const POLL: Duration = Duration::from_secs(2);

/// Why the state is not (fully) what the files say; shown by `/health/ready`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadStatus {
    /// The config failed to load: the last good config is in use.
    pub config_error: Option<String>,
    /// Repositories that failed to load: their last good rules are in use.
    pub repository_errors: BTreeMap<String, String>,
    /// `k8s://` sources not listed yet: not ready until they are.
    pub pending: BTreeMap<String, String>,
}

/// What every request reads: the current snapshot, swapped atomically.
#[derive(Debug)]
pub struct State {
    /// The compiled snapshot.
    pub snapshot: ArcSwap<Snapshot>,
    /// Load problems.
    pub status: ArcSwap<LoadStatus>,
    /// Metrics.
    pub metrics: Metrics,
}

/// Why the first load failed (later failures keep the last good state instead).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `k8s://` config source has no config (yet): not listed, unreachable, or no key.
    #[error("config {source_url}: {message}")]
    Kubernetes {
        /// The source.
        source_url: String,
        /// What is wrong.
        message: String,
    },
    /// The config is invalid.
    #[error("config file {path}: {source}")]
    Config {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: oathkeeper_core::config::ConfigError,
    },
}

/// Reads config and rules, remembering the last good of each.
pub struct Loader {
    source: ConfigSource,
    env: Box<dyn Source + Send + Sync>,
    config: Option<Config>,
    last_good: HashMap<String, Vec<Rule>>,
    last_hash: Option<u64>,
    config_hash: Option<u64>,
    config_error: Option<String>,
    stores: crate::pipeline::SessionStores,
    kubernetes: crate::k8s::Sources,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The result of one load.
#[derive(Debug)]
pub enum Loaded {
    /// Nothing changed since the last load.
    Unchanged,
    /// A new snapshot and the load status.
    Changed(Box<Snapshot>, LoadStatus),
}

impl Loader {
    /// A loader for `source`, with environment overrides from `env`.
    pub fn new(source: ConfigSource, env: Box<dyn Source + Send + Sync>) -> Loader {
        Loader {
            source,
            env,
            config: None,
            last_good: HashMap::new(),
            last_hash: None,
            config_hash: None,
            config_error: None,
            stores: HashMap::new(),
            kubernetes: crate::k8s::Sources::default(),
        }
    }

    /// Notified when a watched ConfigMap changes (the reload loop waits on it too).
    pub fn kubernetes_changed(&self) -> Arc<tokio::sync::Notify> {
        self.kubernetes.changed()
    }

    /// The rules files of a `k8s://` repository: one per ConfigMap key, labelled
    /// `<url>#<key>`; or why there are none. `pending` is set until the first list.
    fn kubernetes_files(
        &mut self,
        url: &str,
        status: &mut LoadStatus,
        metrics: &Metrics,
    ) -> Vec<(String, Result<Vec<u8>, String>)> {
        let target = match crate::k8s::Target::parse(url) {
            Some(Ok(target)) => target,
            Some(Err(message)) => return vec![(url.to_owned(), Err(message))],
            None => return vec![(url.to_owned(), Err(format!("{url}: not a k8s:// URL")))],
        };
        let observed = match self.kubernetes.observe(url, &target) {
            Ok(observed) => observed,
            Err(message) => return vec![(url.to_owned(), Err(message))],
        };
        metrics.set_kubernetes_source_up(url, observed.data.is_some() && observed.error.is_none());
        let Some(data) = observed.data else {
            let why = observed
                .error
                .unwrap_or_else(|| "waiting for the first list of the ConfigMap".to_owned());
            status.pending.insert(url.to_owned(), why.clone());
            return vec![(url.to_owned(), Err(format!("{url}: {why}")))];
        };
        if let Some(error) = observed.error {
            // The API is unreachable: the last data seen stays in use.
            status
                .repository_errors
                .insert(url.to_owned(), format!("stale: {error}"));
        } else if observed.missing {
            status.repository_errors.insert(
                url.to_owned(),
                format!(
                    "ConfigMap {}/{} not found: no rules",
                    observed.namespace, target.name
                ),
            );
        }
        data.into_iter()
            .map(|(key, text)| (format!("{url}#{key}"), Ok(text.into_bytes())))
            .collect()
    }

    /// The config text of a `k8s://` config source.
    fn kubernetes_config(
        &mut self,
        url: &str,
        target: &crate::k8s::Target,
    ) -> Result<String, LoadError> {
        let failed = |message: String| LoadError::Kubernetes {
            source_url: url.to_owned(),
            message,
        };
        let observed = self.kubernetes.observe(url, target).map_err(failed)?;
        let Some(data) = observed.data else {
            return Err(failed(observed.error.unwrap_or_else(|| {
                "waiting for the first list of the ConfigMap".to_owned()
            })));
        };
        data.get(crate::settings::CONFIG_KEY)
            .cloned()
            .ok_or_else(|| failed(format!("no key {}", crate::settings::CONFIG_KEY)))
    }

    /// The config of the last successful load.
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// Directories whose changes may change the state.
    pub fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        if let ConfigSource::File(path) = &self.source {
            dirs.insert(parent_dir(path));
        }
        if let Some(config) = &self.config {
            for repo in &config.access_rules.repositories {
                if let Some(path) = file_path(repo) {
                    dirs.insert(parent_dir(&path));
                }
            }
        }
        dirs
    }

    /// Loads everything. Fails only when there is no good config yet.
    pub fn load(&mut self, metrics: &Metrics) -> Result<Loaded, LoadError> {
        let mut status = LoadStatus::default();
        let mut hasher = DefaultHasher::new();
        let (label, text) = match &self.source {
            ConfigSource::Example => (
                "embedded://examples/oathkeeper.yaml".to_owned(),
                Ok(EXAMPLE_CONFIG.to_owned()),
            ),
            ConfigSource::File(path) => (path.display().to_string(), std::fs::read_to_string(path)),
            ConfigSource::Kubernetes(url, target) => {
                let (url, target) = (url.clone(), target.clone());
                match self.kubernetes_config(&url, &target) {
                    Ok(text) => (url, Ok(text)),
                    // Nothing to run with before the first list: the caller retries.
                    Err(e) if self.config.is_none() => return Err(e),
                    Err(e) => (url, Err(std::io::Error::other(e.to_string()))),
                }
            }
        };
        // Parse only a config that changed: a broken file is reported once, not on every poll.
        let config_hash = text.as_ref().ok().map(|t| {
            let mut h = DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        });
        if self.config.is_none() || config_hash.is_none() || config_hash != self.config_hash {
            let parsed = match text {
                Ok(text) => {
                    parse_config(&text, self.env.as_ref()).map_err(|source| LoadError::Config {
                        path: label.clone(),
                        source,
                    })
                }
                Err(source) => Err(match &self.source {
                    ConfigSource::File(path) => LoadError::Read {
                        path: path.clone(),
                        source,
                    },
                    ConfigSource::Kubernetes(url, _) => LoadError::Kubernetes {
                        source_url: url.clone(),
                        message: source.to_string(),
                    },
                    ConfigSource::Example => LoadError::Read {
                        path: PathBuf::from(&label),
                        source,
                    },
                }),
            };
            match parsed {
                Ok(config) => {
                    if let Some(old) = &self.config {
                        warn_restart_only(old, &config);
                    }
                    self.config = Some(config);
                    self.config_error = None;
                }
                Err(e) if self.config.is_some() => {
                    if self.config_error.as_deref() != Some(e.to_string().as_str()) {
                        tracing::error!(error = %format!("{e:#}"), "config reload failed; keeping the last good config");
                        metrics.reload_error(&label);
                    }
                    self.config_error = Some(e.to_string());
                }
                Err(e) => return Err(e),
            }
            self.config_hash = config_hash;
        }
        config_hash.hash(&mut hasher);
        status.config_error.clone_from(&self.config_error);
        // invariant: set above or returned.
        let Some(config) = self.config.as_ref() else {
            return Ok(Loaded::Unchanged);
        };
        let configured = config.access_rules.repositories.clone();
        let mut repositories: Vec<(String, Result<Vec<u8>, String>)> = Vec::new();
        for repo in &configured {
            if repo.starts_with(crate::k8s::SCHEME) {
                repositories.extend(self.kubernetes_files(repo, &mut status, metrics));
            } else {
                repositories.push((repo.clone(), fetch(repo)));
            }
        }
        let mut watched: Vec<&str> = configured
            .iter()
            .map(String::as_str)
            .filter(|repo| repo.starts_with(crate::k8s::SCHEME))
            .collect();
        if let ConfigSource::Kubernetes(url, _) = &self.source {
            watched.push(url);
        }
        self.kubernetes.retain(&watched);
        // invariant: set above or returned.
        let Some(config) = self.config.as_ref() else {
            return Ok(Loaded::Unchanged);
        };
        if self.source == ConfigSource::Example {
            repositories.push((
                EXAMPLE_RULES_SOURCE.to_owned(),
                Ok(EXAMPLE_RULES.as_bytes().to_vec()),
            ));
        }
        for (repo, bytes) in &repositories {
            repo.hash(&mut hasher);
            match bytes {
                Ok(b) => b.hash(&mut hasher),
                Err(e) => e.hash(&mut hasher),
            }
        }
        // A source going stale or coming back changes what readiness says, not the rules.
        status.repository_errors.hash(&mut hasher);
        status.pending.hash(&mut hasher);
        let hash = hasher.finish();
        if self.last_hash == Some(hash) {
            return Ok(Loaded::Unchanged);
        }
        self.last_hash = Some(hash);
        let mut files = Vec::with_capacity(repositories.len());
        for (repo, bytes) in repositories {
            let parsed = bytes.and_then(|b| {
                parse_rules(&b).map_err(|e| match e.line() {
                    Some(line) => format!("{repo}:{line}: {e}"),
                    None => format!("{repo}: {e}"),
                })
            });
            let rules = match parsed {
                Ok(rules) => {
                    self.last_good.insert(repo.clone(), rules.clone());
                    rules
                }
                Err(message) => {
                    let kept = self.last_good.get(&repo).cloned().unwrap_or_default();
                    tracing::error!(repository = %repo, error = %message, kept_rules = kept.len(),
                        "cannot load rules; keeping the last good rules of this repository");
                    metrics.reload_error(&repo);
                    status.repository_errors.insert(repo.clone(), message);
                    kept
                }
            };
            files.push(RuleFile {
                source: repo,
                rules,
            });
        }
        // Forget repositories that are no longer configured.
        self.last_good
            .retain(|repo, _| files.iter().any(|f| &f.source == repo));
        let snapshot = compile_rules(config, &files, std::mem::take(&mut self.stores));
        self.stores = snapshot.session_stores.clone();
        log_diagnostics(&snapshot.diagnostics);
        Ok(Loaded::Changed(Box::new(snapshot), status))
    }
}

/// Logs diagnostics: errors at error level, warnings at warn level.
pub fn log_diagnostics(diagnostics: &[crate::snapshot::Diagnostic]) {
    for d in diagnostics {
        match d.severity {
            Severity::Error => {
                tracing::error!(repository = %d.source, rule = d.rule.as_deref().unwrap_or(""), "{}", d.message)
            }
            Severity::Warning => {
                tracing::warn!(repository = %d.source, rule = d.rule.as_deref().unwrap_or(""), "{}", d.message)
            }
        }
    }
}

/// Logs settings that changed but only apply at the next start.
fn warn_restart_only(old: &Config, new: &Config) {
    let checks = [
        ("serve.api", old.serve.api != new.serve.api),
        ("serve.proxy", old.serve.proxy != new.serve.proxy),
        (
            "serve.prometheus",
            old.serve.prometheus != new.serve.prometheus,
        ),
        ("log", old.log != new.log),
    ];
    for (key, changed) in checks {
        if changed {
            tracing::warn!(key, "setting changed; it applies after a restart");
        }
    }
}

/// Reads one repository.
fn fetch(repo: &str) -> Result<Vec<u8>, String> {
    if let Some(encoded) = repo.strip_prefix("inline://") {
        return base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| format!("{repo}: invalid base64: {e}"));
    }
    match file_path(repo) {
        Some(path) => {
            std::fs::read(&path).map_err(|e| format!("{repo}: cannot read {}: {e}", path.display()))
        }
        None => Err(format!(
            "{repo}: unsupported repository scheme (supported: file://, inline://, plain paths)"
        )),
    }
}

/// The path of a `file://` or plain-path repository.
fn file_path(repo: &str) -> Option<PathBuf> {
    if let Some(path) = repo.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    if repo.contains("://") {
        return None;
    }
    Some(PathBuf::from(repo))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl State {
    /// A state serving `snapshot`.
    pub fn new(snapshot: Snapshot, status: LoadStatus, metrics: Metrics) -> State {
        metrics.set_rules_loaded(snapshot.rule_count());
        State {
            snapshot: ArcSwap::from_pointee(snapshot),
            status: ArcSwap::from_pointee(status),
            metrics,
        }
    }

    /// Swaps in a new snapshot.
    pub fn install(&self, snapshot: Snapshot, status: LoadStatus) {
        self.metrics.set_rules_loaded(snapshot.rule_count());
        tracing::info!(rules = snapshot.rule_count(), "rules loaded");
        self.snapshot.store(Arc::new(snapshot));
        self.status.store(Arc::new(status));
    }
}

/// Reloads whenever a watched directory changes, until the process ends.
pub async fn watch(mut loader: Loader, state: Arc<State>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "file watching unavailable; polling every {:?}", POLL);
                None
            }
        };
    let mut watched = BTreeSet::new();
    let kubernetes_changed = loader.kubernetes_changed();
    loop {
        if let Some(w) = watcher.as_mut() {
            rewatch(w, &mut watched, loader.watched_dirs());
        }
        tokio::select! {
            () = kubernetes_changed.notified() => {
                // A list answers with several events in a burst too.
                tokio::time::sleep(DEBOUNCE).await;
            }
            event = rx.recv() => {
                if event.is_none() {
                    watcher = None;
                }
                // Debounce: a ConfigMap update is several events in a burst.
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(POLL) => {}
        }
        // Reading and compiling is blocking work: keep it off the threads that answer requests.
        // The old snapshot is dropped there too, once no request holds it any more.
        let shared = Arc::clone(&state);
        let reloaded = tokio::task::spawn_blocking(move || {
            match loader.load(&shared.metrics) {
                Ok(Loaded::Changed(snapshot, status)) => {
                    shared.install(*snapshot, status);
                    // Served first, probed after: overlap warnings do not delay the new rules.
                    log_diagnostics(&shared.snapshot.load().overlap_diagnostics());
                }
                Ok(Loaded::Unchanged) => {}
                Err(e) => tracing::error!(error = %e, "reload failed"),
            }
            loader
        })
        .await;
        loader = match reloaded {
            Ok(loader) => loader,
            Err(e) => {
                tracing::error!(error = %e, "the reload task failed; file watching stops");
                return;
            }
        };
    }
}

fn rewatch(
    watcher: &mut notify::RecommendedWatcher,
    watched: &mut BTreeSet<PathBuf>,
    wanted: BTreeSet<PathBuf>,
) {
    use notify::Watcher as _;
    for dir in watched.difference(&wanted) {
        let _ = watcher.unwatch(dir);
    }
    let mut now = BTreeSet::new();
    for dir in wanted {
        if watched.contains(&dir)
            || watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
                .is_ok()
        {
            now.insert(dir);
        }
    }
    *watched = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use oathkeeper_core::config::NoEnv;

    fn loader(dir: &Path) -> (Loader, PathBuf) {
        let config = dir.join("oathkeeper.yaml");
        (
            Loader::new(ConfigSource::File(config.clone()), Box::new(NoEnv)),
            config,
        )
    }

    #[test]
    fn a_broken_config_is_reported_once_not_on_every_poll() {
        let dir = tempfile::tempdir().unwrap();
        let (mut loader, config) = loader(dir.path());
        std::fs::write(&config, "log: {level: info}\n").unwrap();
        let metrics = Metrics::new("t_");
        assert!(matches!(
            loader.load(&metrics).unwrap(),
            Loaded::Changed(..)
        ));
        std::fs::write(&config, "log: [\n").unwrap();
        let Loaded::Changed(_, status) = loader.load(&metrics).unwrap() else {
            panic!("a changed config is a change")
        };
        assert!(status.config_error.is_some());
        for _ in 0..3 {
            assert!(
                matches!(loader.load(&metrics).unwrap(), Loaded::Unchanged),
                "same bytes, nothing to do"
            );
        }
        let errors = metrics.encode();
        assert!(
            errors.contains(&format!(
                "t_reload_errors_total{{source=\"{}\"}} 1",
                config.display()
            )),
            "{errors}"
        );
        // Fixed: the error goes away.
        std::fs::write(&config, "log: {level: debug}\n").unwrap();
        let Loaded::Changed(_, status) = loader.load(&metrics).unwrap() else {
            panic!("fixed config")
        };
        assert!(status.config_error.is_none());
    }

    #[test]
    fn the_first_load_fails_on_a_bad_config() {
        let dir = tempfile::tempdir().unwrap();
        let (mut loader, config) = loader(dir.path());
        std::fs::write(&config, "serve: {api: {port: x}}\n").unwrap();
        let err = loader.load(&Metrics::new("")).unwrap_err();
        assert!(err.to_string().contains("serve.api.port"), "{err}");
    }
}
