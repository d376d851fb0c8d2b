//! Reading config and rules files safely, and telling cheaply whether they changed.
//!
//! A rules file is whatever the path points to at the moment, and the reload loop must survive
//! anything there: a FIFO (a plain `read` waits for a writer forever), a symlink to
//! `/dev/zero` (a plain `read` never ends and grows without bound), a file of gigabytes, a
//! network file system that stops answering. So a read follows symlinks, accepts only a regular
//! file (checked before opening and again on the opened file, in case it was swapped), opens it
//! non-blocking, reads at most [`MAX_SOURCE_BYTES`], and runs on its own thread so that the
//! reload waits at most [`READ_TIMEOUT`] for it. A read that is still stuck is not started again
//! until it ends.
//!
//! [`stamp`] is the cheap check that runs before any read: size, mtime, ctime, inode and device
//! of every source. Equal stamps mean equal bytes, except for a write within the file system's
//! timestamp granularity; a stamp that recent is [`Stamp::is_recent`] and not trusted.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// The largest config or rules file read; a larger one is an error.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;
/// How long a reload waits for one file to be read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A stamp whose mtime or ctime is within this many seconds of now is not trusted: a second
/// write within the file system's timestamp granularity could leave size and times unchanged.
const RECENT_SECS: i64 = 1;

/// What a file is to the server (the start of every read error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `oathkeeper.yaml`.
    Config,
    /// A `file://` rules repository.
    Rules,
    /// `serve.api.tls.cert.path`.
    Certificate,
    /// `serve.api.tls.key.path`.
    PrivateKey,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Config => "config file",
            Role::Rules => "rules file",
            Role::Certificate => "TLS certificate file",
            Role::PrivateKey => "TLS private key file",
        })
    }
}

/// Why a config or rules file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be found, opened or read.
    #[error("cannot read {role} {path}: {source}")]
    Io {
        /// Config or rules.
        role: Role,
        /// The path as configured.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The path (after following symlinks) is a FIFO, a device, a directory or a socket.
    #[error("{role} {path} is not a regular file but {kind}")]
    NotRegular {
        /// Config or rules.
        role: Role,
        /// The path as configured.
        path: PathBuf,
        /// What it is instead, with its article ("a FIFO").
        kind: &'static str,
    },
    /// The file is larger than [`MAX_SOURCE_BYTES`].
    #[error("{role} {path} is larger than 64 MiB")]
    TooLarge {
        /// Config or rules.
        role: Role,
        /// The path as configured.
        path: PathBuf,
    },
    /// The read did not finish within [`READ_TIMEOUT`] (a hung network file system).
    #[error("{role} {path} could not be read within {} s", timeout.as_secs_f32())]
    TimedOut {
        /// Config or rules.
        role: Role,
        /// The path as configured.
        path: PathBuf,
        /// How long the reload waited.
        timeout: Duration,
    },
    /// An earlier read of the same file timed out and has still not ended.
    #[error("{role} {path} is still being read by an earlier reload that timed out")]
    Busy {
        /// Config or rules.
        role: Role,
        /// The path as configured.
        path: PathBuf,
    },
    /// The config is not UTF-8.
    #[error("{role} {path} is not UTF-8")]
    NotUtf8 {
        /// Config or rules.
        role: Role,
        /// The path as configured.
        path: PathBuf,
    },
}

impl ReadError {
    /// True when the same stamp may read fine next time (a timeout, an I/O error), so the
    /// next poll should try again rather than trust the stamp.
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::TimedOut { .. } | ReadError::Busy { .. } => true,
            ReadError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ),
            ReadError::NotRegular { .. }
            | ReadError::TooLarge { .. }
            | ReadError::NotUtf8 { .. } => false,
        }
    }
}

/// Reads files on helper threads with a timeout, remembering reads that are still stuck.
#[derive(Debug)]
pub struct Reader {
    timeout: Duration,
    /// Per path: set while a read of it runs. A timed-out read keeps its thread (a blocked
    /// system call cannot be cancelled); this stops a hung mount from collecting one thread
    /// per reload.
    running: HashMap<PathBuf, Arc<AtomicBool>>,
    /// The read itself: [`read_regular`], or a slow one in tests.
    read: fn(Role, &Path) -> Result<Vec<u8>, ReadError>,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader::with_timeout(READ_TIMEOUT)
    }
}

impl Reader {
    /// A reader that waits `timeout` for each read.
    pub fn with_timeout(timeout: Duration) -> Reader {
        Reader {
            timeout,
            running: HashMap::new(),
            read: read_regular,
        }
    }

    /// A reader whose reads are `read` (tests: a read that hangs).
    #[cfg(test)]
    pub(crate) fn with_read(
        timeout: Duration,
        read: fn(Role, &Path) -> Result<Vec<u8>, ReadError>,
    ) -> Reader {
        Reader {
            read,
            ..Reader::with_timeout(timeout)
        }
    }

    /// Reads the regular file at `path` (symlinks followed), at most [`MAX_SOURCE_BYTES`],
    /// on its own thread, waiting for it at most the reader's timeout.
    pub fn read(&mut self, role: Role, path: &Path) -> Result<Vec<u8>, ReadError> {
        let read = self.read;
        self.running
            .retain(|_, running| running.load(Ordering::Acquire));
        if self.running.contains_key(path) {
            return Err(ReadError::Busy {
                role,
                path: path.to_owned(),
            });
        }
        let running = Arc::new(AtomicBool::new(true));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let owned = path.to_owned();
        let flag = Arc::clone(&running);
        let spawned = std::thread::Builder::new()
            .name("oathkeeper-read".to_owned())
            .spawn(move || {
                let result = read(role, &owned);
                flag.store(false, Ordering::Release);
                // The reload may have stopped waiting: nobody to tell then.
                let _ = tx.send(result);
            });
        if let Err(source) = spawned {
            return Err(ReadError::Io {
                role,
                path: path.to_owned(),
                source,
            });
        }
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(_) => {
                self.running.insert(path.to_owned(), running);
                Err(ReadError::TimedOut {
                    role,
                    path: path.to_owned(),
                    timeout: self.timeout,
                })
            }
        }
    }
}

/// Reads a regular file, refusing anything else and anything over [`MAX_SOURCE_BYTES`].
pub fn read_regular(role: Role, path: &Path) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        role,
        path: path.to_owned(),
        source,
    };
    // Checked before opening: opening some devices has effects of its own.
    check(role, path, &std::fs::metadata(path).map_err(io)?)?;
    // O_NONBLOCK: should a FIFO be swapped in after the check, opening it does not wait for a
    // writer (and the check below refuses it). It changes nothing for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    check(role, path, &metadata)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // One byte over the cap tells a file that grew since the check.
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge {
            role,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

fn check(role: Role, path: &Path, metadata: &Metadata) -> Result<(), ReadError> {
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        let kind = if file_type.is_fifo() {
            "a FIFO"
        } else if file_type.is_char_device() {
            "a character device"
        } else if file_type.is_block_device() {
            "a block device"
        } else if file_type.is_dir() {
            "a directory"
        } else if file_type.is_socket() {
            "a socket"
        } else {
            "something else"
        };
        return Err(ReadError::NotRegular {
            role,
            path: path.to_owned(),
            kind,
        });
    }
    if metadata.len() > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge {
            role,
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// What a cheap look at one source says; equal stamps mean nothing to read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// A file as `stat` (following symlinks) sees it.
    File {
        /// Device and inode: a ConfigMap's `..data` swap or a rename changes them.
        id: (u64, u64),
        /// Size in bytes.
        size: u64,
        /// Modification time (seconds, nanoseconds).
        mtime: (i64, i64),
        /// Status change time: also moves when a copy restores an old mtime.
        ctime: (i64, i64),
        /// File type and permissions.
        mode: u32,
    },
    /// `stat` failed (missing file, no permission).
    Unavailable(std::io::ErrorKind),
    /// A `k8s://` source: how many updates its watch has published (`None` before it runs).
    Kubernetes(Option<u64>),
    /// An `http(s)://` source: how many changes its fetch task has published (`None` before
    /// it runs).
    Remote(Option<u64>),
}

impl Stamp {
    /// True when the file changed too recently for its stamp to be trusted.
    pub fn is_recent(&self, now: SystemTime) -> bool {
        let Stamp::File { mtime, ctime, .. } = self else {
            return false;
        };
        let latest = mtime.0.max(ctime.0);
        let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return true;
        };
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        // Whole seconds, rounded up: anything within RECENT_SECS, or in the future, counts.
        latest.saturating_add(RECENT_SECS + 1) > now
    }
}

/// Stats `path`, following symlinks.
pub fn stamp(path: &Path) -> Stamp {
    match std::fs::metadata(path) {
        Ok(m) => Stamp::File {
            id: (m.dev(), m.ino()),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            mode: m.mode(),
        },
        Err(e) => Stamp::Unavailable(e.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (path, kind) in [
            (fifo, "a FIFO"),
            (zero, "a character device"),
            (dir.path().to_owned(), "a directory"),
        ] {
            let error = Reader::default().read(Role::Rules, &path).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "rules file {} is not a regular file but {kind}",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn files_over_64_mib_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("rules.json");
        let file = std::fs::File::create(&big).unwrap();
        // Sparse: no disk space, and a read would take the whole 65 MiB.
        file.set_len(MAX_SOURCE_BYTES + 1).unwrap();
        let error = Reader::default().read(Role::Rules, &big).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("rules file {} is larger than 64 MiB", big.display())
        );
        file.set_len(MAX_SOURCE_BYTES).unwrap();
        assert_eq!(
            Reader::default().read(Role::Rules, &big).unwrap().len() as u64,
            MAX_SOURCE_BYTES,
            "exactly 64 MiB is allowed"
        );
    }

    fn slow(_: Role, _: &Path) -> Result<Vec<u8>, ReadError> {
        std::thread::sleep(Duration::from_millis(400));
        Ok(b"[]".to_vec())
    }

    #[test]
    fn a_hung_read_times_out_and_is_not_started_again_until_it_ends() {
        let mut reader = Reader::with_read(Duration::from_millis(50), slow);
        let path = Path::new("/nfs/rules.json");
        let error = reader.read(Role::Rules, path).unwrap_err();
        assert_eq!(
            error.to_string(),
            "rules file /nfs/rules.json could not be read within 0.05 s"
        );
        let error = reader.read(Role::Rules, path).unwrap_err();
        assert!(matches!(error, ReadError::Busy { .. }), "{error}");
        std::thread::sleep(Duration::from_millis(500));
        let mut patient = reader;
        patient.timeout = Duration::from_secs(5);
        assert_eq!(
            patient.read(Role::Rules, path).unwrap(),
            b"[]",
            "once the stuck read ends, the file is read again"
        );
    }

    #[test]
    fn stamps_change_with_content_and_replacement_and_recent_ones_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.json");
        std::fs::write(&path, "[]").unwrap();
        let first = stamp(&path);
        assert_eq!(first, stamp(&path), "a read changes nothing");
        std::fs::read(&path).unwrap();
        assert_eq!(first, stamp(&path));
        assert!(first.is_recent(SystemTime::now()));
        assert!(!first.is_recent(SystemTime::now() + Duration::from_secs(3)));
        std::fs::write(&path, "[ ]").unwrap();
        assert_ne!(first, stamp(&path), "a write changes the size");
        let other = dir.path().join("other.json");
        std::fs::write(&other, "[ ]").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_ne!(first, stamp(&path), "a rename changes the inode");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            stamp(&path),
            Stamp::Unavailable(std::io::ErrorKind::NotFound)
        );
    }
}
