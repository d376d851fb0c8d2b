//! ConfigMaps as config and rule sources: `k8s://<namespace>/<configmap>` (or
//! `k8s:///<configmap>` for the pod's own namespace), read through the Kubernetes API instead of
//! a mounted volume, so a change applies in about a second with no kubelet sync.
//!
//! One task per ConfigMap lists it, then watches from the listed `resourceVersion`; a watch that
//! ends is resumed from the last version seen, a `410 Gone` re-lists, and a failure backs off
//! (250 ms doubling to 30 s). The task publishes what it observed on a `watch` channel and pokes
//! the reload loop; [`crate::reload::Loader`] reads the latest observation and compiles it like
//! file contents. The last data stays in use while the API is unreachable.
//!
//! The client comes from `$KUBECONFIG` when set, else from the pod's in-cluster config.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use oathkeeper_core::config::KUBERNETES_SCHEME;
use tokio::sync::{Notify, watch};

/// The environment variable naming a kubeconfig (tests, or running outside a pod).
pub const KUBECONFIG: &str = "KUBECONFIG";
/// The first retry delay after a failure.
const BACKOFF_START: Duration = Duration::from_millis(250);
/// The longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long one watch request stays open before it is resumed (the API server's limit is
/// higher; a shorter one bounds how long a silently dead connection goes unnoticed).
const WATCH_TIMEOUT_SECS: u32 = 240;

/// A parsed `k8s://` source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The namespace; `None` means the client's default (the pod's namespace).
    pub namespace: Option<String>,
    /// The ConfigMap.
    pub name: String,
}

impl Target {
    /// Parses `k8s://<namespace>/<configmap>` or `k8s:///<configmap>`; `None` when `url` is not
    /// a `k8s://` URL at all, an error naming the URL when it is one but malformed.
    pub fn parse(url: &str) -> Option<Result<Target, String>> {
        let rest = url.strip_prefix(KUBERNETES_SCHEME)?;
        let invalid = |why: &str| {
            Err(format!(
                "{url}: {why}: expected k8s://<namespace>/<configmap> or k8s:///<configmap>"
            ))
        };
        let Some((namespace, name)) = rest.split_once('/') else {
            return Some(invalid("no ConfigMap name"));
        };
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 253
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !valid(name) {
            return Some(invalid("invalid ConfigMap name"));
        }
        if !namespace.is_empty() && !valid(namespace) {
            return Some(invalid("invalid namespace"));
        }
        Some(Ok(Target {
            namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
            name: name.to_owned(),
        }))
    }
}

/// What the watch of one ConfigMap has seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The ConfigMap's data as last seen; `None` before the first successful list.
    pub data: Option<BTreeMap<String, String>>,
    /// The ConfigMap did not exist at the last list or was deleted since.
    pub missing: bool,
    /// The last failure, cleared by the next successful list or event.
    pub error: Option<String>,
    /// The namespace the source resolved to.
    pub namespace: String,
    /// How many updates the watch has published: the reload loop's cheap "changed?" check.
    pub generation: u64,
}

/// Every ConfigMap source in use, each watched by its own task.
pub struct Sources {
    client: Option<Result<(Client, String), String>>,
    watches: HashMap<String, Watched>,
    changed: Arc<Notify>,
}

struct Watched {
    observed: watch::Receiver<Observed>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("watched", &self.watches.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Sources {
    fn default() -> Sources {
        Sources {
            client: None,
            watches: HashMap::new(),
            changed: Arc::new(Notify::new()),
        }
    }
}

impl Sources {
    /// Notified whenever a watched ConfigMap changes or its watch fails or recovers.
    pub fn changed(&self) -> Arc<Notify> {
        Arc::clone(&self.changed)
    }

    /// What is known of `url` now. The first call starts its watch (on the current tokio
    /// runtime); until its first list answers, `data` is `None`.
    pub fn observe(&mut self, url: &str, target: &Target) -> Result<Observed, String> {
        if let Some(watched) = self.watches.get(url) {
            return Ok(watched.observed.borrow().clone());
        }
        let (client, default_namespace) = self.client()?;
        let namespace = target
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.clone());
        let initial = Observed {
            namespace: namespace.clone(),
            ..Observed::default()
        };
        let (tx, rx) = watch::channel(initial.clone());
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("{url}: no runtime to watch on: {e}"))?;
        let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
        let task = handle.spawn(run(
            api,
            url.to_owned(),
            target.name.clone(),
            tx,
            Arc::clone(&self.changed),
        ));
        self.watches
            .insert(url.to_owned(), Watched { observed: rx, task });
        Ok(initial)
    }

    /// The update count of `url`'s watch; `None` before its watch starts.
    pub fn generation(&self, url: &str) -> Option<u64> {
        self.watches
            .get(url)
            .map(|watched| watched.observed.borrow().generation)
    }

    /// Stops the watches of sources no longer in `urls`.
    pub fn retain(&mut self, urls: &[&str]) {
        self.watches.retain(|url, _| urls.contains(&url.as_str()));
    }

    fn client(&mut self) -> Result<(Client, String), String> {
        if self.client.is_none() {
            let handle = tokio::runtime::Handle::try_current()
                .map_err(|e| format!("no runtime for the Kubernetes client: {e}"))?;
            // Building the client reads files and, for a kubeconfig, awaits: run it on the
            // runtime from this (blocking) thread.
            self.client = Some(std::thread::scope(|scope| {
                scope
                    .spawn(|| handle.block_on(connect()))
                    .join()
                    .unwrap_or_else(|_| Err("the Kubernetes client setup panicked".to_owned()))
            }));
        }
        self.client
            .clone()
            .unwrap_or_else(|| Err("no Kubernetes client".to_owned()))
    }
}

/// A client from `$KUBECONFIG` if set, else the in-cluster config; and its default namespace.
async fn connect() -> Result<(Client, String), String> {
    let config = match std::env::var(KUBECONFIG).ok().filter(|p| !p.is_empty()) {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(&path)
                .map_err(|e| format!("cannot read kubeconfig {path}: {e}"))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("invalid kubeconfig {path}: {e}"))?
        }
        None => Config::incluster().map_err(|e| {
            format!("no in-cluster Kubernetes config ({e}); set {KUBECONFIG} outside a pod")
        })?,
    };
    let namespace = config.default_namespace.clone();
    let client =
        Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    Ok((client, namespace))
}

fn publish(tx: &watch::Sender<Observed>, changed: &Notify, update: impl FnOnce(&mut Observed)) {
    tx.send_modify(|observed| {
        update(observed);
        observed.generation += 1;
    });
    changed.notify_one();
}

/// Lists then watches one ConfigMap until the task is aborted.
async fn run(
    api: Api<ConfigMap>,
    url: String,
    name: String,
    tx: watch::Sender<Observed>,
    changed: Arc<Notify>,
) {
    let selector = format!("metadata.name={name}");
    let mut backoff = BACKOFF_START;
    loop {
        let listed = match api.list(&ListParams::default().fields(&selector)).await {
            Ok(list) => list,
            Err(e) => {
                let message = format!("cannot list ConfigMap {name}: {e}");
                tracing::warn!(source = %url, error = %message, retry_in = ?backoff, "Kubernetes source unavailable; keeping its last data");
                publish(&tx, &changed, |o| o.error = Some(message));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_START;
        let mut version = listed.metadata.resource_version.clone().unwrap_or_default();
        let found = listed.items.into_iter().next();
        tracing::info!(source = %url, resource_version = %version, found = found.is_some(), "Kubernetes source listed");
        publish(&tx, &changed, |o| {
            o.missing = found.is_none();
            o.data = Some(found.and_then(|cm| cm.data).unwrap_or_default());
            o.error = None;
        });
        // Watch from the listed version; resume from the last version seen when a watch ends,
        // re-list when the version is too old (410) or the watch fails.
        'watching: loop {
            let params = WatchParams::default()
                .fields(&selector)
                .timeout(WATCH_TIMEOUT_SECS)
                .disable_bookmarks();
            let stream = match api.watch(&params, &version).await {
                Ok(stream) => stream,
                Err(e) => {
                    let message = format!("cannot watch ConfigMap {name}: {e}");
                    tracing::warn!(source = %url, error = %message, retry_in = ?backoff, "Kubernetes watch failed; keeping the last data");
                    publish(&tx, &changed, |o| o.error = Some(message));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    // Resume from the last version: a 410 then says to re-list.
                    continue 'watching;
                }
            };
            if tx.borrow().error.is_some() {
                tracing::info!(source = %url, resource_version = %version, "Kubernetes watch resumed");
                publish(&tx, &changed, |o| o.error = None);
            }
            let mut stream = stream.boxed();
            loop {
                match stream.try_next().await {
                    Ok(Some(WatchEvent::Added(cm) | WatchEvent::Modified(cm))) => {
                        backoff = BACKOFF_START;
                        version = cm.metadata.resource_version.clone().unwrap_or(version);
                        publish(&tx, &changed, |o| {
                            o.missing = false;
                            o.data = Some(cm.data.unwrap_or_default());
                            o.error = None;
                        });
                    }
                    Ok(Some(WatchEvent::Deleted(cm))) => {
                        version = cm.metadata.resource_version.clone().unwrap_or(version);
                        tracing::warn!(source = %url, "ConfigMap deleted: its rules are gone");
                        publish(&tx, &changed, |o| {
                            o.missing = true;
                            o.data = Some(BTreeMap::new());
                            o.error = None;
                        });
                    }
                    Ok(Some(WatchEvent::Bookmark(mark))) => {
                        version = mark.metadata.resource_version;
                    }
                    Ok(Some(WatchEvent::Error(status))) => {
                        // 410 Gone: the version is too old to resume from.
                        tracing::info!(source = %url, code = status.code, message = %status.message, "watch ended; re-listing");
                        break 'watching;
                    }
                    // The server closed the watch (its timeout): resume from `version`.
                    Ok(None) => continue 'watching,
                    Err(e) => {
                        let message = format!("watch of ConfigMap {name} failed: {e}");
                        tracing::warn!(source = %url, error = %message, retry_in = ?backoff, "Kubernetes watch failed; keeping the last data");
                        publish(&tx, &changed, |o| o.error = Some(message));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue 'watching;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_and_without_a_namespace() {
        assert_eq!(
            Target::parse("k8s://iam/access-rules"),
            Some(Ok(Target {
                namespace: Some("iam".to_owned()),
                name: "access-rules".to_owned()
            }))
        );
        assert_eq!(
            Target::parse("k8s:///access-rules"),
            Some(Ok(Target {
                namespace: None,
                name: "access-rules".to_owned()
            }))
        );
        assert_eq!(Target::parse("file:///etc/rules.json"), None);
    }

    #[test]
    fn malformed_targets_name_the_url_and_the_problem() {
        for (url, problem) in [
            ("k8s://iam", "no ConfigMap name"),
            ("k8s://iam/", "invalid ConfigMap name"),
            ("k8s://IAM/rules", "invalid namespace"),
            ("k8s://iam/rules/extra", "invalid ConfigMap name"),
        ] {
            let error = Target::parse(url).unwrap().unwrap_err();
            assert!(
                error.starts_with(url) && error.contains(problem),
                "{url}: {error}"
            );
        }
    }
}
