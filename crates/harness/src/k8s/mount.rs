//! ConfigMap volumes as kubelet materialises them, for end-to-end tests of a workload that
//! watches its config directory.
//!
//! Layout (kubelet's atomic writer): the files live in a hidden timestamped directory
//! `<dir>/..2024_05_01_12_00_00.123456789`, `<dir>/..data` is a symlink to it, and each key
//! `<dir>/<key>` is a symlink to `..data/<key>`. An update writes a new timestamped directory,
//! points a new `..data_tmp` symlink at it and renames that over `..data` (one atomic step: a
//! reader sees the old set of files or the new one, never a mix or a gap), adds links for new
//! keys, removes links of dropped keys, then removes the old directory.
//!
//! As with kubelet, removing the old directory right after the swap races with a reader that
//! resolved `..data` just before: its open of `..<old>/<key>` fails with ENOENT, and it must
//! resolve again. `..data` and the key links themselves never go missing.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

use super::store::{SharedStore, config_map_and_events};

/// The symlink to the current timestamped directory.
pub const DATA_LINK: &str = "..data";
/// The temporary symlink renamed over [`DATA_LINK`].
pub const DATA_TMP_LINK: &str = "..data_tmp";
/// How long the first mount waits for the syncer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a mount failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MountError {
    /// A file system operation failed.
    #[error("cannot mount into {dir}: {source}")]
    Io {
        /// The mount directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The fake server is stopped.
    #[error("the fake kubernetes API server is stopped")]
    Stopped,
}

/// The files of a ConfigMap: `data` as UTF-8, `binaryData` base64-decoded is not supported
/// (our charm writes none), so only `data`.
pub fn config_map_files(config_map: &Value) -> BTreeMap<String, Vec<u8>> {
    config_map
        .get("data")
        .and_then(Value::as_object)
        .map(|data| {
            data.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.as_bytes().to_vec())))
                .collect()
        })
        .unwrap_or_default()
}

/// Write `files` into `dir` the way kubelet updates a ConfigMap volume. Returns whether
/// anything changed (an identical payload is left alone, as kubelet does).
pub fn write_atomic(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join(DATA_LINK);
    let old_target = std::fs::read_link(&data_link).ok();
    let old_keys: Vec<String> = match &old_target {
        Some(target) => std::fs::read_dir(dir.join(target))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        None => Vec::new(),
    };
    if let Some(target) = &old_target {
        let same_keys = old_keys.len() == files.len() && files.keys().all(|k| old_keys.contains(k));
        let same_content = same_keys
            && files
                .iter()
                .all(|(k, v)| std::fs::read(dir.join(target).join(k)).is_ok_and(|old| old == *v));
        if same_content {
            return Ok(false);
        }
    }
    let timestamped = new_timestamped_dir(dir)?;
    for (key, content) in files {
        std::fs::write(timestamped.join(key), content)?;
    }
    let name = timestamped
        .file_name()
        .map(|n| PathBuf::from(n.to_os_string()))
        .ok_or_else(|| io::Error::other("timestamped directory has no name"))?;
    let tmp_link = dir.join(DATA_TMP_LINK);
    match std::fs::remove_file(&tmp_link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(&name, &tmp_link)?;
    // The atomic step: rename(2) replaces the old link in one operation.
    std::fs::rename(&tmp_link, &data_link)?;
    for key in files.keys() {
        let link = dir.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_LINK).join(key), &link)?;
        }
    }
    for key in old_keys.iter().filter(|k| !files.contains_key(*k)) {
        match std::fs::remove_file(dir.join(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    if let Some(target) = old_target {
        std::fs::remove_dir_all(dir.join(target))?;
    }
    Ok(true)
}

/// A fresh `..YYYY_MM_DD_HH_MM_SS.<nanos>` directory under `dir`.
fn new_timestamped_dir(dir: &Path) -> io::Result<PathBuf> {
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y_%m_%d_%H_%M_%S");
    let mut suffix = now.subsec_nanosecond().unsigned_abs();
    loop {
        let path = dir.join(format!("..{stamp}.{suffix:09}"));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => suffix = suffix.wrapping_add(1),
            Err(e) => return Err(e),
        }
    }
}

/// A ConfigMap mounted into a directory and kept in sync with the fake server (the kubelet
/// part of an end-to-end test). Stops syncing when dropped.
#[derive(Debug)]
pub struct ConfigMapMount {
    dir: PathBuf,
    synced: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for ConfigMapMount {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConfigMapMount {
    pub(crate) fn start(
        store: SharedStore,
        runtime: &tokio::runtime::Handle,
        name: &str,
        dir: &Path,
        rewrites: Rewrites,
    ) -> Result<Self, MountError> {
        let io_error = |source| MountError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let synced = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let task = runtime.spawn(sync_loop(
            store,
            name.to_owned(),
            dir.to_owned(),
            rewrites,
            synced.clone(),
            ready_tx,
        ));
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(io_error(source)),
            Err(_) => return Err(MountError::Stopped),
        }
        Ok(Self {
            dir: dir.to_owned(),
            synced,
            task,
        })
    }

    /// The mount directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The resourceVersion of the ConfigMap the directory shows now (0: not there yet).
    pub fn synced_version(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// Wait until the directory shows resourceVersion `version` or later. False on timeout.
    pub fn wait_for_version(&self, version: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.synced_version() < version {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

fn version_of(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Text replacements applied to every file of a mount: `(from, to)`.
pub(super) type Rewrites = Vec<(String, String)>;

async fn write_and_record(
    dir: &Path,
    object: &Value,
    rewrites: &Rewrites,
    synced: &AtomicU64,
) -> io::Result<()> {
    let mut files = config_map_files(object);
    if !rewrites.is_empty() {
        for content in files.values_mut() {
            let mut text = String::from_utf8_lossy(content).into_owned();
            for (from, to) in rewrites {
                text = text.replace(from.as_str(), to);
            }
            *content = text.into_bytes();
        }
    }
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || write_atomic(&dir, &files))
        .await
        .map_err(io::Error::other)??;
    synced.store(version_of(object), Ordering::Release);
    Ok(())
}

async fn sync_loop(
    store: SharedStore,
    name: String,
    dir: PathBuf,
    rewrites: Rewrites,
    synced: Arc<AtomicU64>,
    ready: std::sync::mpsc::Sender<io::Result<()>>,
) {
    let (namespace, object, mut events) = config_map_and_events(&store, &name).await;
    let first = match &object {
        Some(object) => write_and_record(&dir, object, &rewrites, &synced).await,
        None => Ok(()),
    };
    let failed = first.is_err();
    let _ = ready.send(first);
    if failed {
        return;
    }
    while let Ok(event) = events.recv().await {
        let ours = event.resource == "configmaps"
            && event
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                == Some(name.as_str())
            && event
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(namespace.as_str());
        // A deleted ConfigMap keeps its last files in a running pod, as with kubelet.
        if ours
            && event.kind != "DELETED"
            && write_and_record(&dir, &event.object, &rewrites, &synced)
                .await
                .is_err()
        {
            return;
        }
    }
}
