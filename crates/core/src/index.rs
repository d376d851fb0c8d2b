//! The rule index: finds the one rule whose method and URL pattern match a request.
//!
//! Upstream tests every rule's regex on every request under one mutex. Here each rule sits in a
//! byte trie under its literal prefixes ([`UrlMatcher::prefixes`]); a lookup walks the URL once
//! down the trie and tests only the rules hanging off the nodes it passes, so the cost follows
//! the number of rules that share the URL's prefix, not the number of rules. Where many
//! linear-time patterns share a node they are tested together with one `RegexSet`.
//!
//! Semantics are upstream's: exactly one rule must match; none is [`FindError::NoMatch`], more
//! than one is [`FindError::Ambiguous`]. The index is immutable once built and needs no lock.
//!
//! A lookup can run in two steps so that the server never runs a long backtracking match on
//! an async worker: [`RuleIndex::find_inline`] tests every candidate with the small inline
//! budget and hands back the few rules it could not decide ([`Undecided`]); their full-budget
//! run ([`Undecided::finish`]) owns everything it needs, so it can move to another thread.

use crate::matcher::{Budget, MAX_URL_LEN, MatchError, UrlMatcher};

/// A rule as the index sees it.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Methods the rule accepts (compared case-insensitively). Empty accepts none, as upstream.
    pub methods: Vec<String>,
    /// The compiled URL pattern.
    pub matcher: UrlMatcher,
}

/// Why no single rule was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FindError {
    /// No rule matches.
    #[error("requested url does not match any rules")]
    NoMatch,
    /// More than one rule matches (the positions of two of them).
    #[error("expected exactly one rule but found multiple rules")]
    Ambiguous {
        /// Two of the matching entries.
        rules: [usize; 2],
    },
    /// A pattern could not be evaluated.
    #[error(transparent)]
    Match(#[from] MatchError),
    /// The URL is longer than [`MAX_URL_LEN`]; no pattern ran. The request is malformed.
    #[error("the URL is too long ({len} bytes; at most {MAX_URL_LEN} are matched)")]
    UrlTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

/// What [`RuleIndex::find_inline`] found.
#[derive(Debug)]
pub enum Lookup {
    /// The one matching entry.
    Found(usize),
    /// Some candidates need more than the inline budget to decide.
    Undecided(Undecided),
}

/// A lookup that inline matching could not finish: the entry found so far, if any, and the
/// candidates that exhausted the inline budget. Owns its matchers (cheap clones), so
/// [`Undecided::finish`] can run on another thread.
#[derive(Debug)]
pub struct Undecided {
    found: Option<usize>,
    /// (entry position, its matcher, the prefix length it was reached at).
    pending: Vec<(usize, UrlMatcher, usize)>,
}

impl Undecided {
    /// The patterns still to run, for logs.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.pending.iter().map(|(_, m, _)| m.pattern())
    }

    /// Finishes the lookup with the [`Budget::Full`] budget: the one matching entry, or why
    /// there is none. `url` must be the URL given to [`RuleIndex::find_inline`].
    pub fn finish(self, url: &str) -> Result<usize, FindError> {
        let mut found = self.found;
        for (position, matcher, prefix_len) in &self.pending {
            if found == Some(*position) || !matcher.matches_after(url, *prefix_len)? {
                continue;
            }
            match found {
                None => found = Some(*position),
                Some(first) => {
                    return Err(FindError::Ambiguous {
                        rules: [first, *position],
                    });
                }
            }
        }
        found.ok_or(FindError::NoMatch)
    }
}

/// Nodes with at least this many linear patterns test them with one `RegexSet`.
const SET_THRESHOLD: usize = 8;
/// Patterns per `RegexSet`, keeping each set's automaton small.
const SET_CHUNK: usize = 256;

/// A node of the radix trie: an edge label and the rules whose prefix ends here.
#[derive(Debug, Default)]
struct Node {
    /// The bytes on the edge from the parent (empty for the root). Chains without branches or
    /// rules are one edge, so ten thousand hosts make tens of thousands of nodes, not a node per
    /// byte.
    label: Box<[u8]>,
    /// Children, sorted by the first byte of their label.
    children: Vec<u32>,
    /// Index into `groups`, or `NO_GROUP`.
    group: u32,
}

const NO_GROUP: u32 = u32::MAX;

/// The rules of one node, grouped by how they are tested.
#[derive(Debug, Default)]
struct Group {
    /// Every rule whose prefix ends at the node.
    rules: Vec<usize>,
    /// `RegexSet`s over linear rules of `rules`, with their entry positions; `true` when the
    /// set runs on the text after the node's prefix (split rules), `false` on the whole URL.
    sets: Vec<(regex::RegexSet, Vec<usize>, bool)>,
    /// Rules of `rules` not covered by `sets`.
    singles: Vec<usize>,
}

/// An immutable index over rules.
#[derive(Debug)]
pub struct RuleIndex {
    entries: Vec<IndexEntry>,
    nodes: Vec<Node>,
    groups: Vec<Group>,
}

impl Default for RuleIndex {
    fn default() -> Self {
        RuleIndex::build(Vec::new())
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl RuleIndex {
    /// Builds the index. Entry positions are preserved: [`RuleIndex::find`] returns them.
    pub fn build(entries: Vec<IndexEntry>) -> RuleIndex {
        let mut nodes = vec![Node {
            group: NO_GROUP,
            ..Node::default()
        }];
        let mut groups: Vec<Group> = Vec::new();
        for (position, entry) in entries.iter().enumerate() {
            for prefix in entry.matcher.prefixes() {
                let node = insert(&mut nodes, prefix);
                if nodes[node].group == NO_GROUP {
                    nodes[node].group = groups.len() as u32;
                    groups.push(Group::default());
                }
                let group = &mut groups[nodes[node].group as usize];
                if !group.rules.contains(&position) {
                    group.rules.push(position);
                }
            }
        }
        // A whole-pattern rule reached through two nested prefixes would be tested twice on
        // one walk: keep it at the shorter only. (Split rules test different text at each.)
        dedupe_nested_prefixes(&nodes, &mut groups, &entries);
        for group in &mut groups {
            let mut by_mode: [(Vec<usize>, bool); 2] = [(Vec::new(), true), (Vec::new(), false)];
            for &i in &group.rules {
                let m = &entries[i].matcher;
                if m.is_linear() {
                    by_mode[usize::from(!m.is_split())].0.push(i);
                } else {
                    group.singles.push(i);
                }
            }
            for (linear, split) in by_mode {
                if linear.len() < SET_THRESHOLD {
                    group.singles.extend(linear);
                    continue;
                }
                for chunk in linear.chunks(SET_CHUNK) {
                    match regex::RegexSet::new(chunk.iter().map(|&i| entries[i].matcher.source())) {
                        Ok(set) => group.sets.push((set, chunk.to_vec(), split)),
                        // Too big for one automaton: test these one by one instead.
                        Err(_) => group.singles.extend_from_slice(chunk),
                    }
                }
            }
        }
        for node in &mut nodes {
            node.children.shrink_to_fit();
        }
        RuleIndex {
            entries,
            nodes,
            groups,
        }
    }

    /// The entries, in the order given to [`RuleIndex::build`].
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Finds the one entry matching `method` and `url`, running every pattern with the full
    /// budget on this thread (tools and tests; the server uses [`RuleIndex::find_inline`]).
    pub fn find(&self, method: &str, url: &str) -> Result<usize, FindError> {
        match self.find_within(method, url, Budget::Full)? {
            Lookup::Found(position) => Ok(position),
            Lookup::Undecided(undecided) => undecided.finish(url),
        }
    }

    /// Finds the one entry matching `method` and `url` with the [`Budget::Inline`] budget.
    /// Entries that exhaust it are returned undecided; a match or an ambiguity among the others
    /// is still reported here. Refuses URLs longer than [`MAX_URL_LEN`].
    pub fn find_inline(&self, method: &str, url: &str) -> Result<Lookup, FindError> {
        self.find_within(method, url, Budget::Inline)
    }

    fn find_within(&self, method: &str, url: &str, budget: Budget) -> Result<Lookup, FindError> {
        if url.len() > MAX_URL_LEN {
            return Err(FindError::UrlTooLong { len: url.len() });
        }
        let mut found: Option<usize> = None;
        let mut pending = Vec::new();
        self.walk(
            method,
            url,
            budget,
            |position| match found {
                None => {
                    found = Some(position);
                    Ok(())
                }
                Some(first) => Err(FindError::Ambiguous {
                    rules: [first, position],
                }),
            },
            |position, prefix_len| {
                let matcher = self.entries[position].matcher.clone();
                pending.push((position, matcher, prefix_len));
            },
        )?;
        if pending.is_empty() {
            return found.map(Lookup::Found).ok_or(FindError::NoMatch);
        }
        Ok(Lookup::Undecided(Undecided { found, pending }))
    }

    /// Calls `hit` once for every entry matching `method` and `url`, walking the URL down the
    /// trie and testing only the rules on its way, within `budget`; `hit` may stop the walk
    /// with an error. Entries that exhaust an inline budget go to `defer` with the prefix
    /// length they were reached at.
    fn walk(
        &self,
        method: &str,
        url: &str,
        budget: Budget,
        mut hit: impl FnMut(usize) -> Result<(), FindError>,
        mut defer: impl FnMut(usize, usize),
    ) -> Result<(), FindError> {
        // A split rule with nested prefixes (`<a|ab>`) can match at two nodes of one walk;
        // it is one match. Walks see few rules, so a short list beats a set.
        let mut seen: Vec<usize> = Vec::new();
        let mut report = |position: usize| -> Result<(), FindError> {
            if !seen.contains(&position) {
                seen.push(position);
                hit(position)?;
            }
            Ok(())
        };
        let bytes = url.as_bytes();
        let mut node = 0usize;
        let mut depth = 0usize;
        loop {
            let current = &self.nodes[node];
            let group = self.groups.get(current.group as usize);
            for (set, positions, split) in group.map_or(&[][..], |g| &g.sets[..]) {
                let text = if *split {
                    url.get(depth..).unwrap_or("")
                } else {
                    url
                };
                for i in set.matches(text).iter() {
                    let position = positions[i];
                    if accepts(&self.entries[position].methods, method) {
                        report(position)?;
                    }
                }
            }
            for &position in group.map_or(&[][..], |g| &g.singles[..]) {
                let entry = &self.entries[position];
                if !accepts(&entry.methods, method) {
                    continue;
                }
                match entry.matcher.matches_after_within(url, depth, budget) {
                    Ok(true) => report(position)?,
                    Ok(false) => {}
                    Err(MatchError::OverInlineBudget) => defer(position, depth),
                    Err(e) => return Err(e.into()),
                }
            }
            let Some(&byte) = bytes.get(depth) else { break };
            let Ok(i) = current
                .children
                .binary_search_by_key(&byte, |&c| self.nodes[c as usize].label[0])
            else {
                break;
            };
            let child = current.children[i] as usize;
            let label = &self.nodes[child].label;
            if !bytes[depth..].starts_with(label) {
                break;
            }
            node = child;
            depth += label.len();
        }
        Ok(())
    }

    /// Pairs of entries that both match some URL, found by probing each entry's literal
    /// prefixes. Reports common overlaps (the same URL protected twice, a catch-all beside a
    /// specific rule); it is a load-time warning, not a proof that no other overlap exists.
    pub fn overlaps(&self) -> Vec<[usize; 2]> {
        let mut pairs = Vec::new();
        for (position, entry) in self.entries.iter().enumerate() {
            let Some(method) = entry.methods.first() else {
                continue;
            };
            for prefix in entry.matcher.prefixes() {
                let Ok(url) = std::str::from_utf8(prefix) else {
                    continue;
                };
                if !entry.matcher.is_match(url).unwrap_or(false) {
                    continue;
                }
                let mut others = Vec::new();
                let _ = self.walk(
                    method,
                    url,
                    Budget::Full,
                    |other| {
                        others.push(other);
                        Ok(())
                    },
                    |_, _| {},
                );
                for other in others.into_iter().filter(|o| *o != position) {
                    let pair = [position.min(other), position.max(other)];
                    if !pairs.contains(&pair) {
                        pairs.push(pair);
                    }
                }
            }
        }
        pairs
    }
}

fn accepts(methods: &[String], method: &str) -> bool {
    methods.iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// Inserts `prefix` into the radix trie, splitting an edge where needed; the node it ends at.
fn insert(nodes: &mut Vec<Node>, prefix: &[u8]) -> usize {
    let mut node = 0usize;
    let mut rest = prefix;
    while let Some(&first) = rest.first() {
        let found = nodes[node]
            .children
            .binary_search_by_key(&first, |&c| nodes[c as usize].label[0]);
        match found {
            Err(slot) => {
                let child = nodes.len();
                nodes.push(Node {
                    label: rest.into(),
                    children: Vec::new(),
                    group: NO_GROUP,
                });
                nodes[node].children.insert(slot, child as u32);
                return child;
            }
            Ok(slot) => {
                let child = nodes[node].children[slot] as usize;
                let shared = common_prefix(&nodes[child].label, rest);
                if shared < nodes[child].label.len() {
                    // Split the edge: a new node for the shared part, the old child below it.
                    let middle = nodes.len();
                    let label = std::mem::take(&mut nodes[child].label);
                    nodes[child].label = label[shared..].into();
                    nodes.push(Node {
                        label: label[..shared].into(),
                        children: vec![child as u32],
                        group: NO_GROUP,
                    });
                    nodes[node].children[slot] = middle as u32;
                    node = middle;
                } else {
                    node = child;
                }
                rest = &rest[shared..];
            }
        }
    }
    node
}

/// Removes a whole-pattern rule from nodes below another node that already holds it.
fn dedupe_nested_prefixes(nodes: &[Node], groups: &mut [Group], entries: &[IndexEntry]) {
    fn walk(
        nodes: &[Node],
        groups: &mut [Group],
        entries: &[IndexEntry],
        node: usize,
        above: &mut Vec<usize>,
    ) {
        let mut added = 0;
        if let Some(group) = groups.get_mut(nodes[node].group as usize) {
            group
                .rules
                .retain(|r| entries[*r].matcher.is_split() || !above.contains(r));
            let mine: Vec<usize> = group
                .rules
                .iter()
                .copied()
                .filter(|r| !entries[*r].matcher.is_split())
                .collect();
            added = mine.len();
            above.extend_from_slice(&mine);
        }
        for &child in &nodes[node].children {
            walk(nodes, groups, entries, child as usize, above);
        }
        above.truncate(above.len() - added);
    }
    walk(nodes, groups, entries, 0, &mut Vec::new());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Strategy;

    fn entry(url: &str, methods: &[&str]) -> IndexEntry {
        IndexEntry {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            matcher: UrlMatcher::compile(url, Strategy::Regexp).unwrap(),
        }
    }

    /// The methods of the upstream charm's rules (`OPTION`, no `HEAD`).
    const UPSTREAM_CHARM_METHODS: &[&str] = &["GET", "POST", "OPTION", "PUT", "PATCH", "DELETE"];

    /// The rules the upstream (Python) charm generates for spec/charm-parity.md §6.4.
    fn upstream_charm_rules() -> RuleIndex {
        RuleIndex::build(vec![
            entry(
                "<^(https|http)>://example.com/<welcome((/.*$)|$)>",
                UPSTREAM_CHARM_METHODS,
            ),
            entry(
                "<^(https|http)>://example.com/<about/app((/.*$)|$)>",
                UPSTREAM_CHARM_METHODS,
            ),
            entry(
                "<^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$)).*>",
                UPSTREAM_CHARM_METHODS,
            ),
        ])
    }

    #[test]
    fn upstream_charm_rules_pick_exactly_one() {
        let index = upstream_charm_rules();
        assert_eq!(index.find("GET", "https://example.com/welcome"), Ok(0));
        assert_eq!(index.find("GET", "http://example.com/welcome/page"), Ok(0));
        assert_eq!(index.find("POST", "https://example.com/about/app"), Ok(1));
        assert_eq!(index.find("GET", "https://example.com/private"), Ok(2));
        assert_eq!(index.find("GET", "https://example.com"), Ok(2));
        assert_eq!(
            index.find("get", "https://example.com/x"),
            Ok(2),
            "methods ignore case"
        );
        assert_eq!(
            index.find("HEAD", "https://example.com/x"),
            Err(FindError::NoMatch)
        );
        assert_eq!(
            index.find("GET", "https://other.com/x"),
            Err(FindError::NoMatch)
        );
    }

    #[test]
    fn two_matching_rules_are_ambiguous() {
        let index = RuleIndex::build(vec![
            entry("http://x/<.*>", &["GET"]),
            entry("http://x/a", &["GET"]),
        ]);
        assert_eq!(index.find("GET", "http://x/b"), Ok(0));
        assert_eq!(
            index.find("GET", "http://x/a"),
            Err(FindError::Ambiguous { rules: [0, 1] })
        );
        assert_eq!(index.overlaps(), vec![[0, 1]]);
    }

    #[test]
    fn rules_without_methods_never_match() {
        let index = RuleIndex::build(vec![entry("http://x/<.*>", &[])]);
        assert_eq!(index.find("GET", "http://x/a"), Err(FindError::NoMatch));
    }

    #[test]
    fn many_rules_in_one_node_use_sets_and_still_find_one() {
        let mut entries: Vec<IndexEntry> = (0..600)
            .map(|i| entry(&format!("<.*>/api/v{i}/<.*>"), &["GET"]))
            .collect();
        entries.push(entry("<(?!x).*>/other", &["GET"]));
        let index = RuleIndex::build(entries);
        assert!(!index.groups[index.nodes[0].group as usize].sets.is_empty());
        assert_eq!(index.find("GET", "http://h/api/v599/x"), Ok(599));
        assert_eq!(index.find("GET", "http://h/api/v7/x"), Ok(7));
        assert_eq!(index.find("GET", "http://h/other"), Ok(600));
        assert_eq!(index.find("GET", "http://h/none"), Err(FindError::NoMatch));
    }

    #[test]
    fn many_hosts_are_told_apart_by_the_trie() {
        let entries: Vec<IndexEntry> = (0..1000)
            .map(|i| {
                entry(
                    &format!("<^(https|http)>://app{i}.example.com<.*>"),
                    UPSTREAM_CHARM_METHODS,
                )
            })
            .collect();
        let index = RuleIndex::build(entries);
        assert_eq!(index.find("GET", "https://app123.example.com/x"), Ok(123));
        assert_eq!(index.find("GET", "https://app1.example.com"), Ok(1));
        // app1 is a prefix of app10..app19, app100..: a shared literal prefix is not a match.
        assert_eq!(index.find("GET", "https://app10.example.com/"), Ok(10));
    }

    #[test]
    fn the_trie_is_compressed_and_splits_edges_correctly() {
        let hosts = [
            "a.example",
            "ab.example",
            "abc.example",
            "b.example",
            "c.example",
        ];
        let index = RuleIndex::build(
            hosts
                .iter()
                .map(|h| entry(&format!("http://{h}<.*>"), &["GET"]))
                .collect(),
        );
        for (i, h) in hosts.iter().enumerate() {
            assert_eq!(index.find("GET", &format!("http://{h}/x")), Ok(i), "{h}");
        }
        assert_eq!(
            index.find("GET", "http://a.exampl"),
            Err(FindError::NoMatch)
        );
        let many = RuleIndex::build(
            (0..1000)
                .map(|i| entry(&format!("https://app{i}.example.com<.*>"), &["GET"]))
                .collect(),
        );
        assert!(
            many.nodes.len() < 2500,
            "one node per branch, not per byte: {}",
            many.nodes.len()
        );
    }

    /// Matches `http://slow/` followed by `a`s, after about 4^n steps for n `a`s.
    const SLOW: &str = "http://slow/<(?:((?=a)a|a)*b|a*)>";

    #[test]
    fn inline_lookup_decides_cheap_rules_and_hands_back_only_the_expensive_ones() {
        let index = RuleIndex::build(vec![
            entry(SLOW, &["GET"]),
            entry("<^(https|http)>://fast<(?!/admin).*>", &["GET"]),
        ]);
        assert!(matches!(
            index.find_inline("GET", "https://fast/x"),
            Ok(Lookup::Found(1))
        ));
        assert_eq!(
            index.find_inline("GET", "https://fast/admin").map(|_| ()),
            Err(FindError::NoMatch)
        );
        // 12 `a`s: over the inline budget, within the full one.
        let url = format!("http://slow/{}", "a".repeat(12));
        let Ok(Lookup::Undecided(undecided)) = index.find_inline("GET", &url) else {
            panic!("the slow rule should be undecided inline");
        };
        assert_eq!(undecided.patterns().collect::<Vec<_>>(), [SLOW]);
        assert_eq!(undecided.finish(&url), Ok(0));
        assert_eq!(index.find("GET", &url), Ok(0));
    }

    #[test]
    fn a_rule_over_the_full_budget_is_an_error_naming_it() {
        let index = RuleIndex::build(vec![entry(SLOW, &["GET"])]);
        let url = format!("http://slow/{}", "a".repeat(64));
        let Ok(Lookup::Undecided(undecided)) = index.find_inline("GET", &url) else {
            panic!("the slow rule should be undecided inline");
        };
        let err = undecided.finish(&url).unwrap_err();
        assert_eq!(
            err,
            FindError::Match(MatchError::BacktrackLimit {
                pattern: SLOW.to_owned()
            })
        );
        assert_eq!(index.find("GET", &url), Err(err));
    }

    #[test]
    fn an_undecided_rule_that_matches_beside_a_found_one_is_ambiguous() {
        let index = RuleIndex::build(vec![
            entry(SLOW, &["GET"]),
            entry("http://slow/<a+>", &["GET"]),
        ]);
        let url = format!("http://slow/{}", "a".repeat(12));
        let Ok(Lookup::Undecided(undecided)) = index.find_inline("GET", &url) else {
            panic!("the slow rule should be undecided inline");
        };
        assert_eq!(
            undecided.finish(&url),
            Err(FindError::Ambiguous { rules: [1, 0] })
        );
    }

    #[test]
    fn urls_over_the_length_cap_are_refused_before_matching() {
        let index = RuleIndex::build(vec![entry("http://x/<.*>", &["GET"])]);
        let longest = format!("http://x/{}", "a".repeat(MAX_URL_LEN - 9));
        assert_eq!(index.find("GET", &longest), Ok(0));
        let over = format!("{longest}a");
        assert_eq!(
            index.find("GET", &over),
            Err(FindError::UrlTooLong {
                len: MAX_URL_LEN + 1
            })
        );
        assert!(matches!(
            index.find_inline("GET", &over),
            Err(FindError::UrlTooLong { .. })
        ));
        assert!(
            FindError::UrlTooLong { len: 9000 }
                .to_string()
                .contains("too long"),
        );
    }

    #[test]
    fn prefix_nesting_does_not_double_count() {
        // `a|ab` yields prefixes "a" and "ab"; the rule must be found once.
        let index = RuleIndex::build(vec![entry("http://x/<a|ab>", &["GET"])]);
        assert_eq!(index.find("GET", "http://x/ab"), Ok(0));
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;
    use crate::matcher::Strategy;
    use crate::testing::many_rules;

    #[test]
    fn bench_fixture_urls_find_exactly_one_rule() {
        let rules = many_rules(1000);
        let index = RuleIndex::build(
            rules
                .iter()
                .map(|r| IndexEntry {
                    methods: r.matcher.methods.clone(),
                    matcher: UrlMatcher::compile(&r.matcher.url, Strategy::Regexp).unwrap(),
                })
                .collect(),
        );
        let found = |url: &str| index.find("GET", url).map(|i| rules[i].id.clone());
        assert_eq!(
            found("https://app166.example.com/private/page").unwrap(),
            "app166:0:deny"
        );
        assert_eq!(
            found("https://shared.example.com/model-app167-ui/welcome/x").unwrap(),
            "app167:welcome:0:allow"
        );
        assert_eq!(found("http://svc.internal/api/v0/x").unwrap(), "generic:0");
        assert_eq!(
            found("https://nowhere.example.org/x"),
            Err(FindError::NoMatch)
        );
    }
}
