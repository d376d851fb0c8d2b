//! A rule repository as `access_rules.repositories` names it, parsed once per config.

use std::path::PathBuf;

use oathkeeper_core::config::{FILE_SCHEME, INLINE_SCHEME, KUBERNETES_SCHEME};

use crate::k8s::Target;

/// What a repository URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repository {
    /// `file://<path>` or a plain path: one rules file.
    File(PathBuf),
    /// `inline://<base64>`: the rules file's content, in the URL.
    Inline(String),
    /// `k8s://<namespace>/<configmap>`: every key of the ConfigMap is a rules file.
    Kubernetes(Target),
    /// `http://` or `https://`: one rules file, fetched and refreshed ([`super::remote`]).
    Remote(crate::outbound::Target),
    /// A URL this server cannot read, and why (names the URL).
    Invalid(String),
}

impl Repository {
    /// Parses a repository URL.
    pub(crate) fn parse(url: &str) -> Repository {
        if let Some(target) = Target::parse(url) {
            return target.map_or_else(Repository::Invalid, Repository::Kubernetes);
        }
        if let Some(encoded) = url.strip_prefix(INLINE_SCHEME) {
            return Repository::Inline(encoded.to_owned());
        }
        if let Some(path) = url.strip_prefix(FILE_SCHEME) {
            return Repository::File(PathBuf::from(path));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return crate::outbound::Target::parse(url)
                .map_or_else(|e| Repository::Invalid(e.to_string()), Repository::Remote);
        }
        if url.contains("://") {
            return Repository::Invalid(format!(
                "{url}: unsupported repository scheme (supported: {FILE_SCHEME}, \
                 {INLINE_SCHEME}, {KUBERNETES_SCHEME}, http://, https://, plain paths)"
            ));
        }
        Repository::File(PathBuf::from(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_names_its_kind() {
        assert_eq!(
            Repository::parse("file:///etc/rules.json"),
            Repository::File("/etc/rules.json".into())
        );
        assert_eq!(
            Repository::parse("rules/a.yaml"),
            Repository::File("rules/a.yaml".into())
        );
        assert_eq!(
            Repository::parse("inline://W10="),
            Repository::Inline("W10=".into())
        );
        assert_eq!(
            Repository::parse("https://example.com/rules.json"),
            Repository::Remote(
                crate::outbound::Target::parse("https://example.com/rules.json").unwrap()
            )
        );
        assert_eq!(
            Repository::parse("k8s://iam/access-rules"),
            Repository::Kubernetes(Target {
                namespace: Some("iam".into()),
                name: "access-rules".into()
            })
        );
    }

    #[test]
    fn unreadable_urls_say_why_and_name_the_url() {
        let Repository::Invalid(why) = Repository::parse("s3://bucket/rules.json") else {
            panic!("an s3 repository is not supported");
        };
        assert!(why.starts_with("s3://bucket/rules.json: unsupported repository scheme"));
        let Repository::Invalid(why) = Repository::parse("https://user:pw@example.com/r.json")
        else {
            panic!("user info in a repository URL is refused");
        };
        assert!(why.contains("user info"), "{why}");
        let Repository::Invalid(why) = Repository::parse("k8s://iam") else {
            panic!("a k8s:// URL without a ConfigMap is invalid");
        };
        assert!(why.starts_with("k8s://iam: "), "{why}");
    }
}
