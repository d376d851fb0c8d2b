//! The URL a request is matched as: `scheme://host[:port]/cleaned-path`, query dropped.

use std::borrow::Cow;

/// Builds the string rules are matched against. The path must already be cleaned.
pub fn match_url(scheme: &str, host: &str, path: &str) -> String {
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(path);
    url
}

/// Cleans a path the way Go's `path.Clean` does, except that an empty path stays empty.
///
/// Repeated slashes collapse, `.` elements go, `..` removes the element before it (and cannot
/// climb above a rooted path), and a trailing slash is dropped. Returns the input unchanged
/// (borrowed) when it is already clean, which is the common case.
pub fn clean_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() || is_clean(path) {
        return Cow::Borrowed(path);
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    Cow::Owned(match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    })
}

fn is_clean(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    if path.ends_with('/') {
        return false;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    body.split('/')
        .all(|e| !e.is_empty() && e != "." && e != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_matches_go_path_clean() {
        let table = [
            ("", ""),
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/public/../admin/secrets", "/admin/secrets"),
            ("/..", "/"),
            ("/../..", "/"),
            ("/a/b/..", "/a"),
            ("a/../..", ".."),
            ("a/", "a"),
            (".", "."),
            ("//", "/"),
        ];
        for (input, want) in table {
            assert_eq!(clean_path(input), want, "clean_path({input:?})");
        }
    }

    #[test]
    fn clean_paths_are_borrowed() {
        assert!(matches!(clean_path("/a/b"), Cow::Borrowed(_)));
    }

    #[test]
    fn match_url_joins_scheme_host_and_path() {
        assert_eq!(
            match_url("https", "localhost:1234", "/x"),
            "https://localhost:1234/x"
        );
    }
}
