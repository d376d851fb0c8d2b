//! The container's filesystem: container paths mapped under a host root directory, with
//! Pebble's per-path errors (Go-style texts naming the container path).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use juju::pebble::api::FileInfo;
use serde_json::{Value, json};

use super::state::{File, FileSpec};
use super::util;

/// Pebble's default file permissions.
const FILE_MODE: u32 = 0o644;
/// Pebble's default directory permissions.
const DIR_MODE: u32 = 0o755;

/// A per-path error: `{"kind","message"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    /// `not-found`, `permission-denied` or `generic-file-error`.
    pub kind: &'static str,
    /// Go-style text naming the container path.
    pub message: String,
}

impl FileError {
    fn generic(message: String) -> FileError {
        FileError {
            kind: "generic-file-error",
            message,
        }
    }

    /// `{"kind","message"}`.
    pub(crate) fn to_json(&self) -> Value {
        json!({"kind": self.kind, "message": self.message})
    }

    /// The error of Go's `op path: cause` for an I/O error on `path`.
    fn io(op: &str, path: &str, error: &std::io::Error) -> FileError {
        let (kind, cause) = match error.kind() {
            ErrorKind::NotFound => ("not-found", "no such file or directory".to_owned()),
            ErrorKind::PermissionDenied => ("permission-denied", "permission denied".to_owned()),
            ErrorKind::AlreadyExists => ("generic-file-error", "file exists".to_owned()),
            ErrorKind::DirectoryNotEmpty => {
                ("generic-file-error", "directory not empty".to_owned())
            }
            ErrorKind::NotADirectory => ("generic-file-error", "not a directory".to_owned()),
            ErrorKind::IsADirectory => ("generic-file-error", "is a directory".to_owned()),
            _ => ("generic-file-error", error.to_string()),
        };
        FileError {
            kind,
            message: format!("{op} {path}: {cause}"),
        }
    }
}

/// The host path of container path `path` under `root`. Paths must be absolute and may not
/// climb out of the root.
pub(crate) fn host_path(root: &Path, path: &str) -> Result<PathBuf, FileError> {
    if !path.starts_with('/') {
        return Err(FileError::generic(format!(
            "paths must be absolute, got {path:?}"
        )));
    }
    let mut host = root.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => host.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(FileError::generic(format!(
                    "paths must be clean, got {path:?}"
                )));
            }
        }
    }
    Ok(host)
}

fn parse_mode(permissions: Option<&str>, default: u32) -> Result<u32, FileError> {
    match permissions {
        None | Some("") => Ok(default),
        Some(text) => u32::from_str_radix(text, 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .ok_or_else(|| {
                FileError::generic(format!(
                    "permissions must be a 3-digit octal number, got {text:?}"
                ))
            }),
    }
}

/// Writes `content` to `path` (`POST /v1/files` `write`).
pub(crate) fn write(
    root: &Path,
    path: &str,
    content: &[u8],
    make_dirs: bool,
    permissions: Option<&str>,
) -> Result<(), FileError> {
    let host = host_path(root, path)?;
    let mode = parse_mode(permissions, FILE_MODE)?;
    match host.parent() {
        Some(parent) if make_dirs => {
            std::fs::create_dir_all(parent).map_err(|e| FileError::io("mkdir", path, &e))?;
        }
        _ => {}
    }
    std::fs::write(&host, content).map_err(|e| FileError::io("open", path, &e))?;
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
        .map_err(|e| FileError::io("chmod", path, &e))
}

/// The content of the regular file `path` (`GET /v1/files?action=read`).
pub(crate) fn read(root: &Path, path: &str) -> Result<Vec<u8>, FileError> {
    let host = host_path(root, path)?;
    let metadata = std::fs::metadata(&host).map_err(|e| FileError::io("stat", path, &e))?;
    if !metadata.is_file() {
        return Err(FileError::generic(format!(
            "can only read a regular file: {path:?}"
        )));
    }
    std::fs::read(&host).map_err(|e| FileError::io("open", path, &e))
}

/// Creates directory `path` (`POST /v1/files` `make-dirs`).
pub(crate) fn make_dir(
    root: &Path,
    path: &str,
    make_parents: bool,
    permissions: Option<&str>,
) -> Result<(), FileError> {
    let host = host_path(root, path)?;
    let mode = parse_mode(permissions, DIR_MODE)?;
    let made = if make_parents {
        std::fs::create_dir_all(&host)
    } else {
        std::fs::create_dir(&host)
    };
    made.map_err(|e| FileError::io("mkdir", path, &e))?;
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
        .map_err(|e| FileError::io("chmod", path, &e))
}

/// Removes `path` (`POST /v1/files` `remove`).
pub(crate) fn remove(root: &Path, path: &str, recursive: bool) -> Result<(), FileError> {
    let host = host_path(root, path)?;
    if host == root {
        return Err(FileError::generic(format!("cannot remove root {path:?}")));
    }
    let metadata =
        std::fs::symlink_metadata(&host).map_err(|e| FileError::io("remove", path, &e))?;
    let removed = match (metadata.is_dir(), recursive) {
        (true, true) => std::fs::remove_dir_all(&host),
        (true, false) => std::fs::remove_dir(&host),
        (false, _) => std::fs::remove_file(&host),
    };
    removed.map_err(|e| FileError::io("remove", path, &e))
}

fn info(container_path: &str, host: &Path) -> Result<FileInfo, FileError> {
    let metadata =
        std::fs::symlink_metadata(host).map_err(|e| FileError::io("stat", container_path, &e))?;
    let file_type = metadata.file_type();
    let type_ = if file_type.is_dir() {
        "directory"
    } else if file_type.is_file() {
        "file"
    } else if file_type.is_symlink() {
        "symlink"
    } else {
        "unknown"
    };
    let name = Path::new(container_path)
        .file_name()
        .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(FileInfo {
        path: container_path.to_owned(),
        name,
        type_: type_.to_owned(),
        size: file_type.is_file().then_some(metadata.len()),
        permissions: format!("{:03o}", metadata.mode() & 0o777),
        last_modified: metadata.modified().map(util::rfc3339).unwrap_or_default(),
        user_id: Some(metadata.uid()),
        user: None,
        group_id: Some(metadata.gid()),
        group: None,
    })
}

/// Lists `path` (`GET /v1/files?action=list`): a directory's entries (or the directory itself
/// with `itself`), or the file itself; `pattern` filters entry names.
pub(crate) fn list(
    root: &Path,
    path: &str,
    pattern: Option<&str>,
    itself: bool,
) -> Result<Vec<FileInfo>, FileError> {
    let host = host_path(root, path)?;
    let metadata = std::fs::metadata(&host).map_err(|e| FileError::io("stat", path, &e))?;
    if !metadata.is_dir() || itself {
        return Ok(vec![info(path, &host)?]);
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&host).map_err(|e| FileError::io("open", path, &e))? {
        let entry = entry.map_err(|e| FileError::io("readdir", path, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if pattern.is_some_and(|p| !util::glob_match(p, &name)) {
            continue;
        }
        let child = format!("{}/{name}", path.trim_end_matches('/'));
        entries.push(info(&child, &entry.path())?);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Why the state's files could not be laid out or read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be written.
    #[error("cannot create container file {path}: {source}")]
    Write {
        /// The container path.
        path: String,
        /// The cause.
        #[source]
        source: FileError,
    },
    /// A file's `base64` does not decode.
    #[error("container file {path}: invalid base64: {message}")]
    Base64 {
        /// The container path.
        path: String,
        /// The decoder's text.
        message: String,
    },
}

/// Writes the state's files under `root`.
pub(crate) fn load(root: &Path, files: &BTreeMap<String, File>) -> Result<(), LoadError> {
    for (path, file) in files {
        let (content, permissions) = match file {
            File::Text(text) => (text.as_bytes().to_vec(), None),
            File::Detailed(spec) => {
                let content = match (&spec.base64, &spec.content) {
                    (Some(encoded), _) => base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .map_err(|e| LoadError::Base64 {
                            path: path.clone(),
                            message: e.to_string(),
                        })?,
                    (None, Some(text)) => text.as_bytes().to_vec(),
                    (None, None) => Vec::new(),
                };
                (content, spec.permissions.as_deref())
            }
        };
        write(root, path, &content, true, permissions).map_err(|source| LoadError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Every regular file under `root`, as state files: UTF-8 with permissions `644` as text,
/// anything else spelled out.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, File> {
    let mut files = BTreeMap::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{prefix}/{name}");
            let Ok(metadata) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if metadata.is_dir() {
                pending.push((entry.path(), path));
            } else if metadata.is_file() {
                let Ok(content) = std::fs::read(entry.path()) else {
                    continue;
                };
                let mode = metadata.mode() & 0o777;
                let file = match String::from_utf8(content) {
                    Ok(text) if mode == FILE_MODE => File::Text(text),
                    Ok(text) => File::Detailed(FileSpec {
                        content: Some(text),
                        base64: None,
                        permissions: Some(format!("{mode:03o}")),
                    }),
                    Err(e) => File::Detailed(FileSpec {
                        content: None,
                        base64: Some(
                            base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                        ),
                        permissions: (mode != FILE_MODE).then(|| format!("{mode:03o}")),
                    }),
                };
                files.insert(path, file);
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_through_the_root_with_permissions_and_binary_content() {
        let root = tempfile::tempdir().unwrap();
        let mut files = BTreeMap::new();
        files.insert("/etc/a.conf".to_owned(), File::Text("a".into()));
        files.insert(
            "/bin/tool".to_owned(),
            File::Detailed(FileSpec {
                base64: Some("AP8=".into()),
                permissions: Some("755".into()),
                content: None,
            }),
        );
        files.insert(
            "/etc/secret".to_owned(),
            File::Detailed(FileSpec {
                content: Some("s".into()),
                permissions: Some("600".into()),
                base64: None,
            }),
        );
        load(root.path(), &files).unwrap();
        assert_eq!(snapshot(root.path()), files);
    }

    #[test]
    fn errors_name_the_container_path_with_pebble_kinds() {
        let root = tempfile::tempdir().unwrap();
        let err = read(root.path(), "/nope").unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            ("not-found", "stat /nope: no such file or directory")
        );
        let err = write(root.path(), "/a/b", b"x", false, None).unwrap_err();
        assert_eq!(err.message, "open /a/b: no such file or directory");
        assert_eq!(
            host_path(root.path(), "etc").unwrap_err().message,
            "paths must be absolute, got \"etc\""
        );
        assert!(host_path(root.path(), "/../x").is_err());
        make_dir(root.path(), "/d/e", true, None).unwrap();
        let err = make_dir(root.path(), "/d", false, None).unwrap_err();
        assert_eq!(err.message, "mkdir /d: file exists");
        let err = remove(root.path(), "/d", false).unwrap_err();
        assert_eq!(err.message, "remove /d: directory not empty");
        remove(root.path(), "/d", true).unwrap();
        let err = read(root.path(), "/").unwrap_err();
        assert_eq!(err.message, "can only read a regular file: \"/\"");
    }

    #[test]
    fn listing_filters_by_pattern_and_can_name_the_directory_itself() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "/etc/a.conf", b"abc", true, Some("600")).unwrap();
        write(root.path(), "/etc/b.yaml", b"", true, None).unwrap();
        let entries = list(root.path(), "/etc", Some("*.conf"), false).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].path, "/etc/a.conf");
        assert_eq!(entries[0].size, Some(3));
        assert_eq!(entries[0].permissions, "600");
        assert!(!entries[0].last_modified.is_empty());
        let itself = list(root.path(), "/etc", None, true).unwrap();
        assert_eq!(
            (itself[0].name.as_str(), itself[0].type_.as_str()),
            ("etc", "directory")
        );
        assert_eq!(
            list(root.path(), "/etc/b.yaml", None, false).unwrap()[0].type_,
            "file"
        );
    }
}
