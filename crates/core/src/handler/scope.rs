//! OAuth 2.0 scope strategies (`scope_strategy`), shared by `jwt` and, later,
//! `oauth2_introspection`: how a required scope is matched against the scopes a token grants.
//!
//! The semantics are upstream's (fosite's `HierarchicScopeStrategy`, `ExactScopeStrategy`
//! and `WildcardScopeStrategy`); scopes are dot-separated parts (`photos.read`):
//!
//! - `exact`: a granted scope equals the required one;
//! - `hierarchic`: a granted scope equals the required one or is a leading run of its parts
//!   (`photos` grants `photos.read` and `photos.read.own`; `photos.read` does not grant
//!   `photos`, `pho` does not grant `photos`);
//! - `wildcard`: a granted scope is a pattern whose `*` part matches any one non-empty part;
//!   a trailing `*` also matches every further part (`photos.*` grants `photos.read` and
//!   `photos.read.own`, not `photos`); without a trailing `*` the part counts must be equal;
//! - `none`: no strategy; upstream then refuses any `required_scope` at request time.

use serde::{Deserialize, Serialize};

/// `scope_strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeStrategy {
    /// No matching: a required scope cannot be satisfied (upstream's default).
    #[default]
    None,
    /// Equal strings.
    Exact,
    /// A granted scope covers its dot-separated sub-scopes.
    Hierarchic,
    /// `*` parts match any part; a trailing `*` matches the rest.
    Wildcard,
}

impl ScopeStrategy {
    /// Whether the `granted` scopes satisfy `required`; `None` for the `none` strategy, which
    /// matches nothing and whose use with a required scope is the caller's error to report.
    pub fn matches<S: AsRef<str>>(self, granted: &[S], required: &str) -> Option<bool> {
        let check: fn(&str, &str) -> bool = match self {
            ScopeStrategy::None => return None,
            ScopeStrategy::Exact => |g, r| g == r,
            ScopeStrategy::Hierarchic => hierarchic,
            ScopeStrategy::Wildcard => wildcard,
        };
        Some(granted.iter().any(|g| check(g.as_ref(), required)))
    }

    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeStrategy::None => "none",
            ScopeStrategy::Exact => "exact",
            ScopeStrategy::Hierarchic => "hierarchic",
            ScopeStrategy::Wildcard => "wildcard",
        }
    }
}

/// `granted` equals `required` or its parts are the leading parts of `required`'s.
fn hierarchic(granted: &str, required: &str) -> bool {
    if granted == required {
        return true;
    }
    // `a.b` grants `a.b.c`: the granted text, then a dot, starts the required scope. Part by
    // part this is the same test: every granted part equals the required part at its place,
    // and the required scope has more parts.
    required
        .strip_prefix(granted)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// `pattern`'s parts match `required`'s (see the module doc).
fn wildcard(pattern: &str, required: &str) -> bool {
    let pattern_parts = pattern.split('.').count();
    let required_parts = required.split('.').count();
    if pattern_parts > required_parts {
        return false;
    }
    let mut needle = required.split('.');
    for (k, part) in pattern.split('.').enumerate() {
        let last = k + 1 == pattern_parts;
        if last && pattern_parts != required_parts && part != "*" {
            return false;
        }
        // invariant: the pattern has no more parts than `required`.
        let Some(want) = needle.next() else {
            return false;
        };
        let ok = if part == "*" {
            !want.is_empty()
        } else {
            part == want
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m<S: AsRef<str>>(strategy: ScopeStrategy, granted: &[S], required: &str) -> bool {
        strategy.matches(granted, required).unwrap()
    }

    #[test]
    fn exact_wants_equal_text() {
        let s = ScopeStrategy::Exact;
        assert!(m(s, &["foo", "bar"], "bar"));
        assert!(!m(s, &["foo"], "foo.bar"));
        assert!(!m(s, &["foo.bar"], "foo"));
        assert!(!m(s, &["Foo"], "foo"));
        assert!(!m::<&str>(s, &[], "foo"));
    }

    #[test]
    fn hierarchic_grants_sub_scopes_only() {
        let s = ScopeStrategy::Hierarchic;
        assert!(m(s, &["foo"], "foo"));
        assert!(m(s, &["foo"], "foo.bar"));
        assert!(m(s, &["foo"], "foo.bar.baz"));
        assert!(m(s, &["foo.bar"], "foo.bar.baz"));
        assert!(!m(s, &["foo.bar"], "foo"));
        assert!(!m(s, &["foo"], "foobar"));
        assert!(!m(s, &["foo.ba"], "foo.bar"));
        assert!(!m(s, &["bar"], "foo.bar"));
        assert!(!m::<&str>(s, &[], "foo"));
        assert!(m(s, &["baz", "foo"], "foo.x"));
    }

    #[test]
    fn wildcard_matches_parts_and_a_trailing_star_matches_the_rest() {
        let s = ScopeStrategy::Wildcard;
        assert!(m(s, &["foo.*"], "foo.bar"));
        assert!(m(s, &["foo.*"], "foo.bar.baz"));
        assert!(!m(s, &["foo.*"], "foo"));
        assert!(!m(s, &["foo.*"], "foo."));
        assert!(m(s, &["*"], "foo"));
        assert!(m(s, &["*"], "foo.bar"));
        assert!(m(s, &["foo.*.baz"], "foo.bar.baz"));
        assert!(!m(s, &["foo.*.baz"], "foo.bar.qux"));
        assert!(!m(s, &["foo.*.baz"], "foo.bar.baz.qux"));
        assert!(m(s, &["foo.bar"], "foo.bar"));
        assert!(!m(s, &["foo.bar"], "foo.bar.baz"));
        assert!(!m(s, &["foo"], "foo.bar"));
        assert!(!m(s, &["foo.bar.baz"], "foo.bar"));
        assert!(!m(s, &["*"], ""));
    }

    #[test]
    fn none_matches_nothing() {
        assert_eq!(ScopeStrategy::None.matches(&["foo"], "foo"), None);
    }

    #[test]
    fn config_names_are_upstreams() {
        for (text, strategy) in [
            ("\"none\"", ScopeStrategy::None),
            ("\"exact\"", ScopeStrategy::Exact),
            ("\"hierarchic\"", ScopeStrategy::Hierarchic),
            ("\"wildcard\"", ScopeStrategy::Wildcard),
        ] {
            assert_eq!(
                serde_json::from_str::<ScopeStrategy>(text).unwrap(),
                strategy
            );
            assert_eq!(format!("\"{}\"", strategy.as_str()), text);
        }
        assert!(serde_json::from_str::<ScopeStrategy>("\"regexp\"").is_err());
    }

    fn scope() -> impl Strategy<Value = String> {
        proptest::collection::vec("[ab*]{0,2}", 1..4).prop_map(|parts| parts.join("."))
    }

    proptest! {
        /// What `exact` grants, the others grant too: a scope always grants itself.
        #[test]
        fn exact_is_the_narrowest(granted in proptest::collection::vec(scope(), 0..3), required in scope()) {
            if m(ScopeStrategy::Exact, &granted, &required) {
                prop_assert!(m(ScopeStrategy::Hierarchic, &granted, &required));
                prop_assert!(m(ScopeStrategy::Wildcard, &granted, &required));
            }
        }

        /// Hierarchic: a granted scope grants every scope made by appending parts to it, and
        /// never a scope with fewer parts.
        #[test]
        fn hierarchic_grants_what_extends_it(granted in scope(), extra in scope(), other in scope()) {
            let extended = format!("{granted}.{extra}");
            prop_assert!(m(ScopeStrategy::Hierarchic, &[granted.as_str()], &extended));
            if other.split('.').count() < granted.split('.').count() {
                prop_assert!(!m(ScopeStrategy::Hierarchic, &[granted.as_str()], &other));
            }
        }

        /// Wildcard: a pattern without `*` grants exactly itself; a trailing `.*` grants every
        /// extension by non-empty first part.
        #[test]
        fn wildcard_without_stars_is_exact(pattern in "[ab]{1,2}(\\.[ab]{1,2}){0,2}", required in scope()) {
            prop_assert_eq!(
                m(ScopeStrategy::Wildcard, &[pattern.as_str()], &required),
                pattern == required
            );
            let prefix = pattern.clone() + ".*";
            let extended = format!("{pattern}.x.{required}");
            prop_assert!(m(ScopeStrategy::Wildcard, &[prefix.as_str()], &extended));
        }
    }
}
