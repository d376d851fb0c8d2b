//! Loading and hot reload of the config file and the rule repositories.
//!
//! [`Loader::load`] first stats every source (size, mtime, ctime, inode; a `k8s://` source's
//! update count) and does nothing more while they are unchanged, so an idle server reads
//! nothing. Otherwise it reads the config and every repository (regular files only, bounded in
//! size and time: [`read`]), skips the work when no byte changed, and compiles a new
//! [`Snapshot`] that [`State`] swaps in with one atomic store.
//!
//! A rules file loads all or nothing: when it cannot be read or parsed, when one of its rules
//! cannot compile, or when it turns empty after having had rules (a truncating writer), its last
//! good version serves whole, and the problem is logged (file, rule id, reason), counted in
//! `reload_errors_total`, flagged by `source_stale` and shown in `/health/ready`. On a first
//! load such a file contributes no rule.
//!
//! [`watch`] runs the loader on create, modify, remove and rename events of the watched files
//! in their directories (a Kubernetes ConfigMap update swaps a `..data` symlink there), never on
//! reads — the server's own reads would otherwise trigger it forever — debounced, with a slow
//! poll as a safety net. A reload that takes too long is shown in readiness while it runs.
//! After each load it also looks at the API's TLS pair (`serve.api.tls` of the config in use,
//! and its files, watched the same way): [`crate::tls`] says what a change does.
//!
//! `http(s)://` repositories are fetched and refreshed by background tasks ([`remote`]); a load
//! reads what their last fetch left, stamped by a change count as a `k8s://` source is, so it
//! never waits on the network.
//!
//! Everything but `serve` and `log` applies live, and so does `serve.api.tls` (to new
//! connections); the rest of `serve` and `log` need a restart (logged as such when they change).

pub mod read;
pub mod remote;
mod repository;

pub use read::{MAX_SOURCE_BYTES, ReadError, Role};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use base64::Engine as _;
use oathkeeper_core::config::{Config, Source, parse_config};
use oathkeeper_core::rule::{Rule, parse_rules};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::settings::{ConfigSource, EXAMPLE_CONFIG, EXAMPLE_RULES, EXAMPLE_RULES_SOURCE};
use crate::snapshot::{
    FileOutcome, Severity, Snapshot, StoredRules, Version, Versions, compile_files,
};
use read::{Reader, Stamp};
use repository::Repository;

/// How long to wait for more events before reloading.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The safety-net poll period (a stat of each source when nothing changed).
const POLL: Duration = Duration::from_secs(2);
/// How long a reload may run before readiness reports it as hanging.
const HANG_AFTER: Duration = Duration::from_secs(10);

/// Why the state is not (fully) what the files say; shown by `/health/ready`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadStatus {
    /// The config failed to load: the last good config is in use.
    pub config_error: Option<String>,
    /// Repositories that failed to load: their last good rules are in use.
    pub repository_errors: BTreeMap<String, String>,
    /// `k8s://` sources not listed yet: not ready until they are.
    pub pending: BTreeMap<String, String>,
    /// The config's source (its label in metrics).
    pub config_source: String,
    /// A reload that has been running for too long.
    pub hang: Option<Hang>,
    /// `serve.api.tls` names a pair that cannot be served: the last good one (or plain HTTP,
    /// if there was none) serves new connections. Set by the TLS reloader and kept across
    /// rule reloads.
    pub tls_error: Option<String>,
}

/// A reload that has not finished in time (10 s); the last good state keeps serving.
#[derive(Debug, Clone, PartialEq)]
pub struct Hang {
    /// The source it was reading, if any.
    pub source: Option<String>,
    /// What it is stuck on, for readiness.
    pub message: String,
}

impl LoadStatus {
    /// Sources not served as they are now: failed, unreachable, not listed yet, or being read
    /// by a hanging reload.
    pub fn stale_sources(&self) -> BTreeSet<&str> {
        let mut stale: BTreeSet<&str> = self
            .repository_errors
            .keys()
            .chain(self.pending.keys())
            .map(String::as_str)
            .collect();
        if self.config_error.is_some() {
            stale.insert(&self.config_source);
        }
        if let Some(source) = self.hang.as_ref().and_then(|h| h.source.as_deref()) {
            stale.insert(source);
        }
        if self.tls_error.is_some() {
            stale.insert(crate::tls::SOURCE);
        }
        stale
    }
}

/// What a load is doing, for the hang report.
#[derive(Debug)]
struct Progress {
    /// The source being read or listed, if any.
    source: Option<String>,
    /// What is being done.
    step: &'static str,
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
    /// What new API connections are served with: `None` is plain HTTP. Loaded once per
    /// accepted connection; swapped by the TLS reloader ([`crate::tls`]).
    pub tls: ArcSwapOption<rustls::ServerConfig>,
    /// The span exporter of the config in use ([`crate::traces`]), swapped when the
    /// `tracing` block changes.
    pub traces: crate::traces::Traces,
}

/// Why the first load failed (later failures keep the last good state instead).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The config file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The config file turned empty after a load with content (a truncating writer).
    #[error("config file {path} is empty (accepted only while it has been empty from the start)")]
    Empty {
        /// The file.
        path: PathBuf,
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
    /// The repositories of `config`, parsed once per config: `(url, what it names)`.
    repositories: Vec<(String, Repository)>,
    /// The text of the config in use was empty (it may stay empty).
    config_empty: bool,
    /// Per rules source: its last version that loaded whole.
    last_good: HashMap<String, LastGood>,
    last_hash: Option<u64>,
    config_hash: Option<u64>,
    config_error: Option<String>,
    stores: crate::pipeline::SessionStores,
    kubernetes: crate::k8s::Sources,
    /// The fetch tasks of `http(s)://` repositories (they wake the reload loop as
    /// `kubernetes` does).
    remotes: remote::Remotes,
    reader: Reader,
    /// The stamps of every source at the start of the last load, when they can be trusted
    /// to say "nothing changed": all reads succeeded and no file was written too recently.
    stamps: Option<Vec<Stamp>>,
    progress: Arc<ArcSwapOption<Progress>>,
    /// The clock stamps are compared with (tests: a later one, so fresh files count as old).
    now: fn() -> SystemTime,
}

/// The last version of a rules file that loaded whole.
#[derive(Debug)]
struct LastGood {
    /// Its rules, shared with the snapshot's `/rules` listing (the one copy kept).
    rules: StoredRules,
    /// Its text was empty: the file has been empty from the start, and may stay so.
    empty: bool,
}

/// A rules file as just parsed.
#[derive(Debug)]
struct Parsed {
    rules: Vec<Rule>,
    /// Its text was empty.
    empty: bool,
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
        let kubernetes = crate::k8s::Sources::default();
        let refresh = match env.get(remote::REFRESH_ENV) {
            None => remote::DEFAULT_REFRESH,
            Some(text) => remote::Remotes::parse_refresh(&text).unwrap_or_else(|e| {
                tracing::warn!(variable = remote::REFRESH_ENV, value = %text, error = %e,
                    default = ?remote::DEFAULT_REFRESH, "invalid refresh interval; using the default");
                remote::DEFAULT_REFRESH
            }),
        };
        let remotes = remote::Remotes::new(kubernetes.changed(), refresh);
        Loader {
            source,
            env,
            config: None,
            repositories: Vec::new(),
            config_empty: false,
            last_good: HashMap::new(),
            last_hash: None,
            config_hash: None,
            config_error: None,
            stores: HashMap::new(),
            kubernetes,
            remotes,
            reader: Reader::default(),
            stamps: None,
            progress: Arc::new(ArcSwapOption::empty()),
            now: SystemTime::now,
        }
    }

    fn step(&self, step: &'static str, source: Option<&str>) {
        self.progress.store(Some(Arc::new(Progress {
            source: source.map(str::to_owned),
            step,
        })));
    }

    /// Creates the `reload_errors_total` and `source_stale` series of the config and every
    /// configured rules source at 0 (a series that first appears at 1 is no `increase()` to
    /// Prometheus, so an alert would miss a source's first failure).
    pub fn track_sources(&self, metrics: &Metrics) {
        metrics.track_source(&self.config_label());
        for (url, _) in &self.repositories {
            metrics.track_source(url);
        }
    }

    /// The label of the config source in logs, metrics and readiness.
    fn config_label(&self) -> String {
        match &self.source {
            ConfigSource::Example => "embedded://examples/oathkeeper.yaml".to_owned(),
            ConfigSource::File(path) => path.display().to_string(),
            ConfigSource::Kubernetes(url, _) => url.clone(),
        }
    }

    /// A stamp of every source: when equal to the last load's, nothing needs reading.
    fn stamps_now(&self) -> Vec<Stamp> {
        let mut stamps: Vec<Stamp> = self.config_stamp().into_iter().collect();
        stamps.extend(
            self.repositories
                .iter()
                .filter_map(|(url, repo)| self.repo_stamp(url, repo)),
        );
        stamps
    }

    fn config_stamp(&self) -> Option<Stamp> {
        match &self.source {
            ConfigSource::Example => None,
            ConfigSource::File(path) => Some(read::stamp(path)),
            ConfigSource::Kubernetes(url, _) => {
                Some(Stamp::Kubernetes(self.kubernetes.generation(url)))
            }
        }
    }

    fn repo_stamp(&self, url: &str, repo: &Repository) -> Option<Stamp> {
        match repo {
            Repository::File(path) => Some(read::stamp(path)),
            Repository::Kubernetes(_) => Some(Stamp::Kubernetes(self.kubernetes.generation(url))),
            Repository::Remote(_) => Some(Stamp::Remote(self.remotes.generation(url))),
            // Their content is part of the config's text.
            Repository::Inline(_) | Repository::Invalid(_) => None,
        }
    }

    /// The config and `file://` repository paths: events about other files are ignored.
    pub fn watched_files(&self) -> BTreeSet<PathBuf> {
        let mut files = BTreeSet::new();
        if let ConfigSource::File(path) = &self.source {
            files.insert(path.clone());
        }
        files.extend(self.repositories.iter().filter_map(|(_, repo)| match repo {
            Repository::File(path) => Some(path.clone()),
            _ => None,
        }));
        files
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
        target: &crate::k8s::Target,
        status: &mut LoadStatus,
        metrics: &Metrics,
    ) -> Vec<(String, Result<Vec<u8>, String>)> {
        let observed = match self.kubernetes.observe(url, target) {
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

    /// The rules file of an `http(s)://` repository as its last fetch left it, or why there
    /// is none: pending until the first fetch ends; a failed fetch is an error (so the last
    /// good rules serve, and the failure is logged, counted and shown stale).
    fn remote_file(
        &mut self,
        url: &str,
        target: &crate::outbound::Target,
        status: &mut LoadStatus,
    ) -> Result<Vec<u8>, String> {
        let observed = self.remotes.observe(url, target)?;
        if !observed.fetched {
            let why = "waiting for the first fetch".to_owned();
            status.pending.insert(url.to_owned(), why.clone());
            return Err(format!("{url}: {why}"));
        }
        match (observed.error, observed.body) {
            (Some(error), _) => Err(error),
            (None, Some(body)) => Ok(body.to_vec()),
            (None, None) => Err(format!("{url}: no answer yet")),
        }
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
        self.watched_files()
            .iter()
            .map(|path| parent_dir(path))
            .collect()
    }

    /// Loads everything. Fails only when there is no good config yet. Does nothing, cheaply,
    /// while no source changed since the last load.
    pub fn load(&mut self, metrics: &Metrics) -> Result<Loaded, LoadError> {
        let stamps = self.stamps_now();
        if self.config.is_some() && self.stamps.as_ref() == Some(&stamps) {
            return Ok(Loaded::Unchanged);
        }
        // Each stamp is taken just before its source is read: a write after it changes it.
        let mut stamps: Vec<Stamp> = self.config_stamp().into_iter().collect();
        let mut transient = false;
        let loaded = self.read_and_compile(metrics, &mut stamps, &mut transient);
        self.progress.store(None);
        match &loaded {
            Ok(Loaded::Changed(..)) => metrics.reloaded(true),
            Ok(Loaded::Unchanged) => metrics.reloaded(false),
            Err(_) => {}
        }
        // Trusted only when a later load with the same stamps would read the same bytes.
        let now = (self.now)();
        let recent = stamps.iter().any(|s| s.is_recent(now));
        self.stamps = (loaded.is_ok() && !recent && !transient).then_some(stamps);
        loaded
    }

    /// The config's text, or why there is none.
    fn read_config(&mut self, label: &str) -> Result<String, LoadError> {
        match &self.source {
            ConfigSource::Example => Ok(EXAMPLE_CONFIG.to_owned()),
            ConfigSource::File(path) => {
                let path = path.clone();
                self.step("reading", Some(label));
                let bytes = self.reader.read(Role::Config, &path)?;
                let text = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
                    role: Role::Config,
                    path: path.clone(),
                })?;
                // A truncating writer must not turn the config into the defaults for a moment.
                if text.trim().is_empty() && self.config.is_some() && !self.config_empty {
                    return Err(LoadError::Empty { path });
                }
                Ok(text)
            }
            ConfigSource::Kubernetes(url, target) => {
                let (url, target) = (url.clone(), target.clone());
                self.step("listing", Some(label));
                self.kubernetes_config(&url, &target)
            }
        }
    }

    /// Reads every source, and compiles them unless no byte changed since the last load.
    fn read_and_compile(
        &mut self,
        metrics: &Metrics,
        stamps: &mut Vec<Stamp>,
        transient: &mut bool,
    ) -> Result<Loaded, LoadError> {
        let label = self.config_label();
        let mut status = LoadStatus {
            config_source: label.clone(),
            ..LoadStatus::default()
        };
        let config_hash = self.refresh_config(&label, metrics, transient)?;
        // After the config: it names the rules sources.
        self.track_sources(metrics);
        status.config_error.clone_from(&self.config_error);
        let repositories = self.read_repositories(stamps, transient, &mut status, metrics);
        let mut hasher = DefaultHasher::new();
        config_hash.hash(&mut hasher);
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
        self.step("compiling", None);
        match self.compile(repositories, &mut status, metrics) {
            Some(snapshot) => Ok(Loaded::Changed(Box::new(snapshot), status)),
            None => Ok(Loaded::Unchanged),
        }
    }

    /// Reads the config and, when its text changed, parses it: a good one replaces the config
    /// in use (and its parsed repositories), a bad one is reported once and the last good one
    /// stays. Returns the hash of the text read (`None` when it could not be read). Fails only
    /// while there is no good config yet.
    fn refresh_config(
        &mut self,
        label: &str,
        metrics: &Metrics,
        transient: &mut bool,
    ) -> Result<Option<u64>, LoadError> {
        let text = match self.read_config(label) {
            // Nothing to run with before the first list: the caller retries.
            Err(e @ LoadError::Kubernetes { .. }) if self.config.is_none() => return Err(e),
            Err(LoadError::Read(e)) if e.is_transient() && self.config.is_some() => {
                *transient = true;
                Err(LoadError::Read(e))
            }
            other => other,
        };
        // Parse only a config that changed: a broken file is reported once, not on every poll.
        let config_hash = text.as_ref().ok().map(|t| {
            let mut h = DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        });
        if self.config.is_some() && config_hash.is_some() && config_hash == self.config_hash {
            return Ok(config_hash);
        }
        let mut empty = false;
        let parsed = text.and_then(|text| {
            empty = text.trim().is_empty();
            parse_config(&text, self.env.as_ref())
                .and_then(|config| {
                    // The `tracing` block is checked here, so a bad one keeps the last good
                    // config like any other invalid key.
                    crate::traces::plan(&config.tracing)?;
                    Ok(config)
                })
                .map_err(|source| LoadError::Config {
                    path: label.to_owned(),
                    source,
                })
        });
        match parsed {
            Ok(config) => {
                if let Some(old) = &self.config {
                    warn_restart_only(old, &config);
                }
                self.repositories = config
                    .access_rules
                    .repositories
                    .iter()
                    .map(|url| (url.clone(), Repository::parse(url)))
                    .collect();
                self.config = Some(config);
                self.config_empty = empty;
                self.config_error = None;
            }
            Err(e) if self.config.is_some() => {
                if self.config_error.as_deref() != Some(e.to_string().as_str()) {
                    tracing::error!(error = %format!("{e:#}"), "config reload failed; keeping the last good config");
                    metrics.reload_error(label);
                }
                self.config_error = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        self.config_hash = config_hash;
        Ok(config_hash)
    }

    /// Reads every repository of the config in use (a `k8s://` one gives one file per key),
    /// taking each one's stamp just before, plus the example rules when serving the example.
    fn read_repositories(
        &mut self,
        stamps: &mut Vec<Stamp>,
        transient: &mut bool,
        status: &mut LoadStatus,
        metrics: &Metrics,
    ) -> Vec<(String, Result<Vec<u8>, String>)> {
        let configured = self.repositories.clone();
        let mut files: Vec<(String, Result<Vec<u8>, String>)> = Vec::new();
        for (url, repo) in &configured {
            stamps.extend(self.repo_stamp(url, repo));
            if let Repository::Kubernetes(target) = repo {
                self.step("listing", Some(url));
                files.extend(self.kubernetes_files(url, target, status, metrics));
            } else if let Repository::Remote(target) = repo {
                files.push((url.clone(), self.remote_file(url, target, status)));
            } else {
                self.step("reading", Some(url));
                let fetched = self.fetch(url, repo).map_err(|e| {
                    *transient |= e.is_transient();
                    e.to_string()
                });
                files.push((url.clone(), fetched));
            }
        }
        let mut watched: Vec<&str> = configured
            .iter()
            .filter(|(_, repo)| matches!(repo, Repository::Kubernetes(_)))
            .map(|(url, _)| url.as_str())
            .collect();
        if let ConfigSource::Kubernetes(url, _) = &self.source {
            watched.push(url);
        }
        self.kubernetes.retain(&watched);
        let remote: Vec<&str> = configured
            .iter()
            .filter(|(_, repo)| matches!(repo, Repository::Remote(_)))
            .map(|(url, _)| url.as_str())
            .collect();
        self.remotes.retain(&remote);
        if self.source == ConfigSource::Example {
            files.push((
                EXAMPLE_RULES_SOURCE.to_owned(),
                Ok(EXAMPLE_RULES.as_bytes().to_vec()),
            ));
        }
        files
    }

    /// Parses and compiles the files read (a file that cannot be parsed or compiled serves its
    /// last good version), records the problems in `status`, and remembers what loaded whole.
    /// `None` when there is no config to compile with.
    fn compile(
        &mut self,
        files: Vec<(String, Result<Vec<u8>, String>)>,
        status: &mut LoadStatus,
        metrics: &Metrics,
    ) -> Option<Snapshot> {
        let config = self.config.as_ref()?;
        // Parse each file; one that cannot be parsed serves its last good rules.
        let parsed: Vec<(String, Result<Parsed, String>)> = files
            .into_iter()
            .map(|(repo, bytes)| {
                let parsed = bytes.and_then(|b| self.parse(&repo, &b));
                (repo, parsed)
            })
            .collect();
        let stores = std::mem::take(&mut self.stores);
        let versions: Vec<Versions<'_>> = parsed
            .iter()
            .map(|(repo, parsed)| {
                let last_good = self.last_good.get(repo).map(|g| &g.rules);
                match (parsed, last_good) {
                    (Ok(file), _) => Versions {
                        repository: repo,
                        current: Version::Parsed(&file.rules),
                        last_good,
                    },
                    (Err(_), Some(last_good)) => Versions {
                        repository: repo,
                        current: Version::Stored(last_good),
                        last_good: None,
                    },
                    (Err(_), None) => Versions {
                        repository: repo,
                        current: Version::Parsed(&[]),
                        last_good: None,
                    },
                }
            })
            .collect();
        let (snapshot, outcomes) = compile_files(config, &versions, stores);
        drop(versions);
        let present: BTreeSet<String> = parsed.iter().map(|(repo, _)| repo.clone()).collect();
        for ((repo, parsed), outcome) in parsed.into_iter().zip(outcomes) {
            let kept = self.last_good.get(&repo).map_or(0, |g| g.rules.len());
            let problem = match (parsed, outcome) {
                (Ok(file), FileOutcome::Loaded(rules)) => {
                    let empty = file.empty;
                    self.last_good.insert(repo, LastGood { rules, empty });
                    continue;
                }
                // Not listed or fetched yet: readiness says so; nothing failed.
                (Err(_), FileOutcome::Loaded(_)) if status.pending.contains_key(&repo) => {
                    continue;
                }
                (Err(message), FileOutcome::Loaded(_)) => message,
                (Ok(_), FileOutcome::Rejected { reason, .. }) => reason,
                (Err(message), FileOutcome::Rejected { reason, .. }) => {
                    format!("{message}; {reason}")
                }
            };
            tracing::error!(repository = %repo, error = %problem, kept_rules = kept,
                "cannot load rules; keeping the last good version of this file");
            metrics.reload_error(&repo);
            status.repository_errors.insert(repo, problem);
        }
        // Forget repositories that are no longer configured.
        self.last_good.retain(|repo, _| present.contains(repo));
        self.stores = snapshot.session_stores.clone();
        log_diagnostics(&snapshot.diagnostics);
        Some(snapshot)
    }

    /// Parses one rules file: its rules, and whether its text was empty. An empty text is an
    /// error once the file loaded with content: a writer that truncates before writing must
    /// not remove every rule of the file for a moment.
    fn parse(&self, repo: &str, bytes: &[u8]) -> Result<Parsed, String> {
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        if empty && self.last_good.get(repo).is_some_and(|g| !g.empty) {
            return Err(format!(
                "{repo} is empty; a rules file may be empty only while it has been empty from \
                 the start (write [] for no rules)"
            ));
        }
        let rules = parse_rules(bytes).map_err(|e| match e.line() {
            Some(line) => format!("{repo}:{line}: {e}"),
            None => format!("{repo}: {e}"),
        })?;
        Ok(Parsed { rules, empty })
    }

    /// Reads one repository that is not a `k8s://` one.
    fn fetch(&mut self, url: &str, repo: &Repository) -> Result<Vec<u8>, FetchError> {
        match repo {
            Repository::Inline(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| FetchError::Other(format!("{url}: invalid base64: {e}"))),
            Repository::File(path) => Ok(self.reader.read(Role::Rules, path)?),
            Repository::Invalid(why) => Err(FetchError::Other(why.clone())),
            // invariant: the caller lists ConfigMaps itself; reached only by mistake.
            Repository::Kubernetes(_) => Err(FetchError::Other(format!(
                "{url}: a ConfigMap is listed, not fetched"
            ))),
            // invariant: the caller reads what the fetch task left; reached only by mistake.
            Repository::Remote(_) => Err(FetchError::Other(format!(
                "{url}: an http(s) repository is fetched in the background"
            ))),
        }
    }
}

/// Why a repository could not be read.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not a file: bad base64, unknown scheme.
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    fn is_transient(&self) -> bool {
        matches!(self, FetchError::Read(e) if e.is_transient())
    }
}

/// Logs diagnostics: errors at error level, warnings at warn level.
pub fn log_diagnostics(diagnostics: &[crate::snapshot::Diagnostic]) {
    for d in diagnostics {
        match d.severity {
            Severity::Error => {
                tracing::error!(repository = %d.repository, rule = d.rule.as_deref().unwrap_or(""), "{}", d.message)
            }
            Severity::Warning => {
                tracing::warn!(repository = %d.repository, rule = d.rule.as_deref().unwrap_or(""), "{}", d.message)
            }
        }
    }
}

/// Logs settings that changed but only apply at the next start (`serve.api.tls` applies to
/// new connections at once).
fn warn_restart_only(old: &Config, new: &Config) {
    let without_tls =
        |listener: &oathkeeper_core::config::Listener| oathkeeper_core::config::Listener {
            tls: None,
            ..listener.clone()
        };
    let checks = [
        (
            "serve.api",
            without_tls(&old.serve.api) != without_tls(&new.serve.api),
        ),
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
        for source in status.stale_sources() {
            metrics.set_source_stale(source, true);
        }
        if status.stale_sources().is_empty() {
            metrics.reload_succeeded(SystemTime::now());
        }
        State {
            snapshot: ArcSwap::from_pointee(snapshot),
            status: ArcSwap::from_pointee(status),
            metrics,
            tls: ArcSwapOption::empty(),
            traces: crate::traces::Traces::default(),
        }
    }

    /// Swaps in a new snapshot.
    pub fn install(&self, snapshot: Snapshot, status: LoadStatus) {
        self.metrics.set_rules_loaded(snapshot.rule_count());
        // A load's own status: no TLS error or hang in it, only the config and rules sources.
        if status.stale_sources().is_empty() {
            self.metrics.reload_succeeded(SystemTime::now());
        }
        tracing::info!(rules = snapshot.rule_count(), "rules loaded");
        self.snapshot.store(Arc::new(snapshot));
        // The TLS reloader's report is not the loader's to clear.
        self.update_status(move |current| {
            Arc::new(LoadStatus {
                tls_error: current.tls_error.clone(),
                ..status.clone()
            })
        });
    }

    /// Applies what the TLS reloader found: a new config for new connections, or an error
    /// (the last good config stays) shown in readiness, logs and metrics.
    pub fn apply_tls(&self, refresh: crate::tls::Refresh) {
        use crate::tls::Refresh;
        let error = match refresh {
            Refresh::Unchanged => return,
            Refresh::Serve(config) => {
                match &config {
                    Some(_) => tracing::info!(
                        source = crate::tls::SOURCE,
                        "TLS certificate loaded; new API connections use it"
                    ),
                    None if self.tls.load().is_some() => tracing::info!(
                        source = crate::tls::SOURCE,
                        "TLS turned off; new API connections are plain HTTP"
                    ),
                    None => {}
                }
                self.tls.store(config);
                None
            }
            Refresh::Failed(e) => {
                let serving = if self.tls.load().is_some() {
                    "the last good certificate"
                } else {
                    "plain HTTP"
                };
                tracing::error!(source = crate::tls::SOURCE, error = %e, serving,
                    "cannot load the TLS certificate and key; new API connections keep being served as before");
                self.metrics.reload_error(crate::tls::SOURCE);
                Some(e.to_string())
            }
        };
        if self.status.load().tls_error == error {
            return;
        }
        self.update_status(|current| {
            Arc::new(LoadStatus {
                tls_error: error.clone(),
                ..LoadStatus::clone(current)
            })
        });
    }

    /// Publishes a status made from the current one to readiness and the `source_stale`
    /// gauges. Read-copy-update: the hang report (from the reload loop) and a new load's
    /// status (from the reload's thread) can meet, and neither may undo the other.
    fn update_status(&self, mut update: impl FnMut(&LoadStatus) -> Arc<LoadStatus>) {
        let mut made = None;
        let old = self.status.rcu(|current| {
            let new = update(current);
            made = Some(Arc::clone(&new));
            new
        });
        let Some(new) = made else { return };
        let (was, is) = (old.stale_sources(), new.stale_sources());
        for source in was.difference(&is) {
            self.metrics.set_source_stale(source, false);
        }
        for source in is.difference(&was) {
            self.metrics.set_source_stale(source, true);
        }
    }

    /// Shows in readiness that a reload has been running for `elapsed`, doing `progress`.
    fn reload_hangs(&self, elapsed: Duration, progress: Option<&Progress>) {
        let source = progress.and_then(|p| p.source.clone());
        let message = match progress {
            Some(Progress {
                source: Some(source),
                step,
            }) => format!(
                "a reload has been {step} {source} for {} s; the last good state serves",
                elapsed.as_secs()
            ),
            Some(Progress { source: None, step }) => format!(
                "a reload has been {step} for {} s; the last good state serves",
                elapsed.as_secs()
            ),
            None => format!("a reload has been running for {} s", elapsed.as_secs()),
        };
        let current = self.status.load();
        if current.hang.is_none() {
            tracing::error!(source = source.as_deref().unwrap_or(""), %message, "reload hangs");
            self.metrics
                .reload_error(source.as_deref().unwrap_or(&current.config_source));
        }
        let hang = Hang { source, message };
        self.update_status(|current| {
            Arc::new(LoadStatus {
                hang: Some(hang.clone()),
                ..LoadStatus::clone(current)
            })
        });
    }

    /// Clears a hang report once the reload ended.
    fn reload_ended(&self) {
        if self.status.load().hang.is_some() {
            tracing::info!("the hanging reload ended");
            self.update_status(|current| {
                Arc::new(LoadStatus {
                    hang: None,
                    ..LoadStatus::clone(current)
                })
            });
        }
    }
}

/// True for events that may change a file's content: create, modify (data, metadata,
/// rename), remove, and a close after writing. False for the reads of the file (open, access,
/// close without writing), which the server's own loads cause.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        // `Any` and `Other` include an overflowed event queue: look again.
        EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Any
        | EventKind::Other => true,
    }
}

/// True when `event` is about one of `files` (or their directory): the file itself, or a
/// `..`-prefixed entry beside it (a ConfigMap volume's `..data` symlink and its targets).
fn concerns(files: &BTreeSet<PathBuf>, event: &notify::Event) -> bool {
    if event.paths.is_empty() {
        return true;
    }
    event.paths.iter().any(|path| {
        files.iter().any(|file| {
            let dir = parent_dir(file);
            path == file
                || *path == dir
                || (path.parent().map(Path::new) == Some(dir.as_path())
                    && path
                        .file_name()
                        .is_some_and(|name| name.as_encoded_bytes().starts_with(b"..")))
        })
    })
}

/// Reloads whenever a watched file changes, until the process ends: the config and rules
/// through `loader`, then the API's TLS pair through `tls`.
pub async fn watch(mut loader: Loader, mut tls: crate::tls::Reloader, state: Arc<State>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<notify::Event>();
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && is_change(&event.kind)
            {
                let _ = tx.send(event);
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
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    loop {
        let mut files = loader.watched_files();
        files.extend(tls.watched_files().iter().cloned());
        if let Some(w) = watcher.as_mut() {
            rewatch(
                w,
                &mut watched,
                files.iter().map(|f| parent_dir(f)).collect(),
            );
        }
        tokio::select! {
            () = kubernetes_changed.notified() => {
                // A list answers with several events in a burst too.
                tokio::time::sleep(DEBOUNCE).await;
            }
            event = rx.recv() => {
                match event {
                    None => watcher = None,
                    // Another file in the same directory.
                    Some(event) if !concerns(&files, &event) => continue,
                    Some(_) => {}
                }
                // Debounce: a ConfigMap update is several events in a burst.
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
            }
            _ = poll.tick() => {}
        }
        (loader, tls) = match reload(loader, tls, &state, HANG_AFTER).await {
            Some(both) => both,
            None => return,
        };
    }
}

/// Runs one load off the request threads (reading and compiling block; the old snapshot is
/// dropped there too, once no request holds it) and installs its result, then looks at the
/// TLS pair the config in use names. A load still running after `hang_after` is reported in
/// readiness until it ends. `None` when the load panicked.
async fn reload(
    mut loader: Loader,
    mut tls: crate::tls::Reloader,
    state: &Arc<State>,
    hang_after: Duration,
) -> Option<(Loader, crate::tls::Reloader)> {
    let progress = Arc::clone(&loader.progress);
    let shared = Arc::clone(state);
    let started = Instant::now();
    let mut task = tokio::task::spawn_blocking(move || {
        match loader.load(&shared.metrics) {
            Ok(Loaded::Changed(snapshot, status)) => {
                shared.install(*snapshot, status);
                // Served first, probed after: overlap warnings do not delay the new rules.
                log_diagnostics(&shared.snapshot.load().overlap_diagnostics());
            }
            Ok(Loaded::Unchanged) => {}
            Err(e) => tracing::error!(error = %e, "reload failed"),
        }
        if let Some(config) = loader.config() {
            shared.apply_tls(tls.refresh(config.serve.api.tls.as_ref()));
            // A changed `tracing` block swaps the exporter (no restart).
            shared.traces.apply(&config.tracing, &shared.metrics);
        }
        (loader, tls)
    });
    let finished = loop {
        match tokio::time::timeout(hang_after, &mut task).await {
            Ok(finished) => break finished,
            Err(_) => state.reload_hangs(started.elapsed(), progress.load().as_deref()),
        }
    };
    state.reload_ended();
    match finished {
        Ok(both) => Some(both),
        Err(e) => {
            tracing::error!(error = %e, "the reload task failed; file watching stops");
            None
        }
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
mod tests;
