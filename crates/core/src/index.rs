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
//!
//! Layout: a walk at 10,000 rules touches a few trie nodes and a few rules, each of which would
//! otherwise be a cache miss behind a pointer. So the built trie is flat: nodes in
//! breadth-first order (a node's children are consecutive), the first byte of every node's
//! edge in one array (a step searches a few contiguous bytes), the edge labels in one byte
//! arena, and rule positions as `u32`; methods are a bitmask ([`Methods`]). A lookup allocates
//! nothing unless a rule is left undecided.

use crate::matcher::{Budget, MAX_URL_LEN, MatchError, UrlMatcher};

/// A rule as given to [`RuleIndex::build`].
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Methods the rule accepts (compared case-insensitively). Empty accepts none, as upstream.
    pub methods: Vec<String>,
    /// The compiled URL pattern.
    pub matcher: UrlMatcher,
}

/// A rule as the index keeps it ([`RuleIndex::entries`]).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Methods the rule accepts.
    pub methods: Methods,
    /// The compiled URL pattern.
    pub matcher: UrlMatcher,
}

/// The methods of [`Methods`]' bitmask, bit `i` for `STANDARD[i]`.
const STANDARD: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The methods a rule accepts: a bit per standard method, and any other name kept as written.
///
/// As upstream: names compare case-insensitively (ASCII), a method outside the standard set
/// (`OPTION`, `PROPFIND`) still matches a request with that method, and an empty list accepts
/// none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Methods {
    standard: u16,
    /// Names outside [`STANDARD`]; almost always empty (no allocation).
    other: Box<[Box<str>]>,
}

/// A request's method, classified once per lookup.
#[derive(Debug, Clone, Copy)]
enum Method<'a> {
    /// The bit of a standard method.
    Standard(u16),
    /// Any other name.
    Other(&'a str),
}

impl<'a> Method<'a> {
    fn parse(name: &'a str) -> Method<'a> {
        match STANDARD.iter().position(|s| s.eq_ignore_ascii_case(name)) {
            Some(bit) => Method::Standard(1 << bit),
            None => Method::Other(name),
        }
    }
}

impl Methods {
    /// The methods named in `names`.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Methods {
        let mut standard = 0;
        let mut other: Vec<Box<str>> = Vec::new();
        for name in names {
            match Method::parse(name.as_ref()) {
                Method::Standard(bit) => standard |= bit,
                Method::Other(name) => {
                    if !other.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                        other.push(name.into());
                    }
                }
            }
        }
        Methods {
            standard,
            other: other.into(),
        }
    }

    /// True when a request with `method` may match.
    pub fn accepts(&self, method: &str) -> bool {
        self.accepts_parsed(Method::parse(method))
    }

    fn accepts_parsed(&self, method: Method<'_>) -> bool {
        match method {
            Method::Standard(bit) => self.standard & bit != 0,
            Method::Other(name) => self.other.iter().any(|o| o.eq_ignore_ascii_case(name)),
        }
    }

    /// One accepted method (the first standard one, else the first other), for probing.
    fn any(&self) -> Option<&str> {
        match self.standard.trailing_zeros() {
            bit if (bit as usize) < STANDARD.len() => Some(STANDARD[bit as usize]),
            _ => self.other.first().map(|o| &**o),
        }
    }
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

/// A node of the built trie (20 bytes). Its edge label is `labels[label..label + label_len]`;
/// its children are `nodes[children..children + child_count]`, sorted by first byte.
#[derive(Debug, Clone, Copy)]
struct Node {
    label: u32,
    label_len: u32,
    children: u32,
    child_count: u32,
    /// Index into `groups`, or `NO_GROUP`.
    group: u32,
}

const NO_GROUP: u32 = u32::MAX;

/// How the rules of one node are tested: `singles[singles.0..singles.1]` one by one, and
/// `sets[sets.0..sets.1]`.
#[derive(Debug, Clone, Copy)]
struct Group {
    singles: (u32, u32),
    sets: (u32, u32),
}

/// Linear rules of one node tested together.
#[derive(Debug)]
struct Set {
    regex: regex::RegexSet,
    /// The entry position of each pattern of `regex`.
    positions: Box<[u32]>,
    /// True when the set runs on the text after the node's prefix (split rules), false on the
    /// whole URL.
    split: bool,
}

/// The built trie.
#[derive(Debug)]
struct Trie {
    /// Breadth-first; the root is node 0.
    nodes: Box<[Node]>,
    /// The first byte of each node's edge label (parallel to `nodes`; 0 for the root).
    first_bytes: Box<[u8]>,
    /// Every edge label, end to end.
    labels: Box<[u8]>,
}

/// An immutable index over rules.
#[derive(Debug)]
pub struct RuleIndex {
    entries: Box<[Entry]>,
    trie: Trie,
    groups: Box<[Group]>,
    /// Entry positions of the rules tested one by one, per group.
    singles: Box<[u32]>,
    sets: Box<[Set]>,
}

impl Default for RuleIndex {
    fn default() -> Self {
        RuleIndex::build(Vec::new())
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A position as the index stores it. Rule counts are far below `u32::MAX` (a rules file is
/// at most 64 MiB), so the conversion cannot fail in practice; it saturates rather than wraps.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl RuleIndex {
    /// Builds the index. Entry positions are preserved: [`RuleIndex::find`] returns them.
    pub fn build(entries: Vec<IndexEntry>) -> RuleIndex {
        RuleIndex::from_entries(
            entries
                .into_iter()
                .map(|e| Entry {
                    methods: Methods::new(&e.methods),
                    matcher: e.matcher,
                })
                .collect(),
        )
    }

    /// Builds the index from entries whose methods are already a [`Methods`] (the server:
    /// no method names copied per rule). Entry positions are preserved.
    pub fn from_entries(entries: Vec<Entry>) -> RuleIndex {
        let entries: Box<[Entry]> = entries.into();
        // Charm rules make about four nodes each; room that is never written costs nothing,
        // while growing by doubling leaves freed copies resident in the allocator.
        let mut trie = Vec::with_capacity(entries.len() * 4 + 1);
        trie.push(BuildNode::default());
        let mut rules: Vec<Vec<u32>> = Vec::new();
        for (position, entry) in entries.iter().enumerate() {
            let position = to_u32(position);
            for prefix in entry.matcher.prefixes() {
                let node = insert(&mut trie, prefix);
                if trie[node].group == NO_GROUP {
                    trie[node].group = to_u32(rules.len());
                    rules.push(Vec::new());
                }
                let group = &mut rules[trie[node].group as usize];
                if !group.contains(&position) {
                    group.push(position);
                }
            }
        }
        // A whole-pattern rule reached through two nested prefixes would be tested twice on
        // one walk: keep it at the shorter only. (Split rules test different text at each.)
        dedupe_nested_prefixes(&trie, &mut rules, &entries);
        let mut groups = Vec::with_capacity(rules.len());
        let mut singles = Vec::new();
        let mut sets = Vec::new();
        for group in &rules {
            let (singles_start, sets_start) = (to_u32(singles.len()), to_u32(sets.len()));
            let mut by_mode: [(Vec<u32>, bool); 2] = [(Vec::new(), true), (Vec::new(), false)];
            for &i in group {
                let m = &entries[i as usize].matcher;
                if m.is_linear() {
                    by_mode[usize::from(!m.is_split())].0.push(i);
                } else {
                    singles.push(i);
                }
            }
            for (linear, split) in by_mode {
                if linear.len() < SET_THRESHOLD {
                    singles.extend(linear);
                    continue;
                }
                for chunk in linear.chunks(SET_CHUNK) {
                    let sources = chunk.iter().map(|&i| entries[i as usize].matcher.source());
                    match regex::RegexSet::new(sources) {
                        Ok(regex) => sets.push(Set {
                            regex,
                            positions: chunk.into(),
                            split,
                        }),
                        // Too big for one automaton: test these one by one instead.
                        Err(_) => singles.extend_from_slice(chunk),
                    }
                }
            }
            groups.push(Group {
                singles: (singles_start, to_u32(singles.len())),
                sets: (sets_start, to_u32(sets.len())),
            });
        }
        let flat = flatten(&trie);
        drop(trie);
        RuleIndex {
            trie: flat,
            entries,
            groups: groups.into(),
            singles: singles.into(),
            sets: sets.into(),
        }
    }

    /// The entries, in the order given to [`RuleIndex::build`].
    pub fn entries(&self) -> &[Entry] {
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
            Method::parse(method),
            url,
            budget,
            // A split rule with nested prefixes (`<a|ab>`) can match at two nodes of one walk:
            // that is one match, not an ambiguity.
            |position| match found {
                None => {
                    found = Some(position);
                    Ok(())
                }
                Some(first) if first == position => Ok(()),
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

    /// The group of rules whose prefix ends at `node`: the ones tested alone and the sets.
    fn group(&self, node: &Node) -> (&[u32], &[Set]) {
        match self.groups.get(node.group as usize) {
            Some(g) => (
                &self.singles[g.singles.0 as usize..g.singles.1 as usize],
                &self.sets[g.sets.0 as usize..g.sets.1 as usize],
            ),
            None => (&[], &[]),
        }
    }

    /// Calls `hit` for every entry matching `method` and `url` (an entry reached through two
    /// nested prefixes may be reported twice), walking the URL down the trie and testing only
    /// the rules on its way, within `budget`; `hit` may stop the walk with an error. Entries
    /// that exhaust an inline budget go to `defer` with the prefix length they were reached at.
    fn walk(
        &self,
        method: Method<'_>,
        url: &str,
        budget: Budget,
        mut hit: impl FnMut(usize) -> Result<(), FindError>,
        mut defer: impl FnMut(usize, usize),
    ) -> Result<(), FindError> {
        let bytes = url.as_bytes();
        let mut node = 0usize;
        let mut depth = 0usize;
        loop {
            let current = self.trie.nodes[node];
            let (singles, sets) = self.group(&current);
            for set in sets {
                let text = if set.split {
                    url.get(depth..).unwrap_or("")
                } else {
                    url
                };
                // Most sets match nothing: `is_match` stops at the first dead state and builds no
                // match set (which `matches` allocates), so it runs first.
                if !set.regex.is_match(text) {
                    continue;
                }
                for i in set.regex.matches(text).iter() {
                    let position = set.positions[i] as usize;
                    if self.entries[position].methods.accepts_parsed(method) {
                        hit(position)?;
                    }
                }
            }
            for &position in singles {
                let position = position as usize;
                let entry = &self.entries[position];
                if !entry.methods.accepts_parsed(method) {
                    continue;
                }
                match entry.matcher.matches_after_within(url, depth, budget) {
                    Ok(true) => hit(position)?,
                    Ok(false) => {}
                    Err(MatchError::OverInlineBudget) => defer(position, depth),
                    Err(e) => return Err(e.into()),
                }
            }
            let Some(&byte) = bytes.get(depth) else { break };
            let first = current.children as usize;
            let kids = &self.trie.first_bytes[first..first + current.child_count as usize];
            let Ok(i) = kids.binary_search(&byte) else {
                break;
            };
            let child = first + i;
            let Node {
                label, label_len, ..
            } = self.trie.nodes[child];
            let label = &self.trie.labels[label as usize..(label + label_len) as usize];
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
        let mut others = Vec::new();
        for (position, entry) in self.entries.iter().enumerate() {
            let Some(method) = entry.methods.any() else {
                continue;
            };
            for prefix in entry.matcher.prefixes() {
                let Ok(url) = std::str::from_utf8(prefix) else {
                    continue;
                };
                if !entry.matcher.is_match(url).unwrap_or(false) {
                    continue;
                }
                others.clear();
                let _ = self.walk(
                    Method::parse(method),
                    url,
                    Budget::Full,
                    |other| {
                        others.push(other);
                        Ok(())
                    },
                    |_, _| {},
                );
                for &other in others.iter().filter(|o| **o != position) {
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

/// A node of the trie while it is built.
#[derive(Debug)]
struct BuildNode<'a> {
    /// The bytes on the edge from the parent (empty for the root), borrowed from the prefix
    /// that made the node. Chains without branches or rules are one edge, so ten thousand
    /// hosts make tens of thousands of nodes, not a node per byte.
    label: &'a [u8],
    /// Children, sorted by the first byte of their label.
    children: Vec<u32>,
    /// Index into the groups, or `NO_GROUP`.
    group: u32,
}

impl Default for BuildNode<'_> {
    fn default() -> Self {
        BuildNode {
            label: &[],
            children: Vec::new(),
            group: NO_GROUP,
        }
    }
}

/// Inserts `prefix` into the radix trie, splitting an edge where needed; the node it ends at.
fn insert<'a>(nodes: &mut Vec<BuildNode<'a>>, prefix: &'a [u8]) -> usize {
    let mut node = 0usize;
    let mut rest = prefix;
    while let Some(&first) = rest.first() {
        let found = nodes[node]
            .children
            .binary_search_by_key(&first, |&c| nodes[c as usize].label[0]);
        match found {
            Err(slot) => {
                let child = nodes.len();
                nodes.push(BuildNode {
                    label: rest,
                    ..BuildNode::default()
                });
                nodes[node].children.insert(slot, to_u32(child));
                return child;
            }
            Ok(slot) => {
                let child = nodes[node].children[slot] as usize;
                let label = nodes[child].label;
                let shared = common_prefix(label, rest);
                if shared < label.len() {
                    // Split the edge: a new node for the shared part, the old child below it.
                    let middle = nodes.len();
                    nodes[child].label = &label[shared..];
                    nodes.push(BuildNode {
                        label: &label[..shared],
                        children: vec![to_u32(child)],
                        group: NO_GROUP,
                    });
                    nodes[node].children[slot] = to_u32(middle);
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

/// Lays the trie out breadth-first, so that each node's children are consecutive: the nodes,
/// the first byte of each node's label, and the labels end to end.
fn flatten(trie: &[BuildNode<'_>]) -> Trie {
    let mut order: Vec<u32> = Vec::with_capacity(trie.len());
    order.push(0);
    let mut nodes = Vec::with_capacity(trie.len());
    let mut first_bytes = Vec::with_capacity(trie.len());
    let mut labels = Vec::new();
    let mut next = 0;
    while let Some(&old) = order.get(next) {
        next += 1;
        let old = &trie[old as usize];
        nodes.push(Node {
            label: to_u32(labels.len()),
            label_len: to_u32(old.label.len()),
            children: to_u32(order.len()),
            child_count: to_u32(old.children.len()),
            group: old.group,
        });
        first_bytes.push(old.label.first().copied().unwrap_or(0));
        labels.extend_from_slice(old.label);
        order.extend_from_slice(&old.children);
    }
    Trie {
        nodes: nodes.into(),
        first_bytes: first_bytes.into(),
        labels: labels.into(),
    }
}

/// Removes a whole-pattern rule from nodes below another node that already holds it.
fn dedupe_nested_prefixes(nodes: &[BuildNode<'_>], groups: &mut [Vec<u32>], entries: &[Entry]) {
    fn walk(
        nodes: &[BuildNode<'_>],
        groups: &mut [Vec<u32>],
        entries: &[Entry],
        node: usize,
        above: &mut Vec<u32>,
    ) {
        let mut added = 0;
        if let Some(group) = groups.get_mut(nodes[node].group as usize) {
            group.retain(|r| entries[*r as usize].matcher.is_split() || !above.contains(r));
            let before = above.len();
            above.extend(
                group
                    .iter()
                    .filter(|r| !entries[**r as usize].matcher.is_split()),
            );
            added = above.len() - before;
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
        let index = assert_ambiguous("http://x/<.*>", "http://x/a", "http://x/a");
        assert_eq!(index.find("GET", "http://x/b"), Ok(0));
    }

    /// Builds rules `first` and `second`, checks that `url` matches both (ambiguous) and that
    /// the overlap is reported; the index.
    fn assert_ambiguous(first: &str, second: &str, url: &str) -> RuleIndex {
        let index = RuleIndex::build(vec![entry(first, &["GET"]), entry(second, &["GET"])]);
        assert_eq!(
            index.find("GET", url),
            Err(FindError::Ambiguous { rules: [0, 1] })
        );
        assert_eq!(index.overlaps(), vec![[0, 1]]);
        index
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
        assert!(!index.group(&index.trie.nodes[0]).1.is_empty());
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
            many.trie.nodes.len() < 2500,
            "one node per branch, not per byte: {}",
            many.trie.nodes.len()
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
    fn methods_compare_without_case_and_keep_unknown_names() {
        let index = RuleIndex::build(vec![
            entry("http://x/a", &["get", "Option"]),
            entry("http://x/b", &["PROPFIND", "propfind", "DELETE"]),
        ]);
        assert_eq!(index.find("GET", "http://x/a"), Ok(0));
        assert_eq!(
            index.find("option", "http://x/a"),
            Ok(0),
            "unknown, any case"
        );
        assert_eq!(index.find("OPTIONS", "http://x/a"), Err(FindError::NoMatch));
        assert_eq!(index.find("POST", "http://x/a"), Err(FindError::NoMatch));
        assert_eq!(index.find("PropFind", "http://x/b"), Ok(1));
        assert_eq!(index.find("delete", "http://x/b"), Ok(1));
        assert_eq!(index.find("GET", "http://x/b"), Err(FindError::NoMatch));
        assert_eq!(index.find("", "http://x/b"), Err(FindError::NoMatch));
        let methods = &index.entries()[1].methods;
        assert_eq!(methods, &Methods::new(&["PROPFIND", "delete"]));
        assert!(methods.accepts("PROPFIND") && !methods.accepts("PATCH"));
        assert!(!Methods::new::<&str>(&[]).accepts("GET"));
        assert_eq!(Methods::new::<&str>(&[]).any(), None);
        assert_eq!(Methods::new(&["Option", "PUT"]).any(), Some("PUT"));
        assert_eq!(Methods::new(&["Option"]).any(), Some("Option"));
    }

    #[test]
    fn a_split_rule_matching_at_two_nested_prefixes_is_found_once() {
        // Prefixes "http://x/a" and "http://x/ab", and the rest `.*` matches after both: the
        // walk meets the rule twice on "http://x/abc", which is one match, not two.
        let index = RuleIndex::build(vec![entry("http://x/<a|ab><.*>", &["GET"])]);
        assert!(index.entries()[0].matcher.is_split());
        assert_eq!(index.find("GET", "http://x/abc"), Ok(0));
        assert!(matches!(
            index.find_inline("GET", "http://x/abc"),
            Ok(Lookup::Found(0))
        ));
        assert_eq!(index.overlaps(), Vec::<[usize; 2]>::new());
        assert_ambiguous("http://x/<a|ab><.*>", "http://x/abc", "http://x/abc");
    }

    #[test]
    fn the_flat_trie_keeps_children_consecutive_and_sorted() {
        let urls = [
            "http://b/x",
            "http://a/y",
            "https://c/",
            "http://a/z",
            "ftp://d",
        ];
        let index = RuleIndex::build(urls.iter().map(|u| entry(u, &["GET"])).collect());
        for node in index.trie.nodes.iter() {
            let first = node.children as usize;
            let kids = &index.trie.first_bytes[first..first + node.child_count as usize];
            assert!(kids.windows(2).all(|w| w[0] < w[1]), "{kids:?}");
            for (i, &byte) in kids.iter().enumerate() {
                let child = index.trie.nodes[first + i];
                assert_eq!(index.trie.labels[child.label as usize], byte);
                assert!(first + i > 0, "the root is nobody's child");
            }
        }
        for (i, url) in urls.iter().enumerate() {
            assert_eq!(index.find("GET", url), Ok(i), "{url}");
        }
        assert_eq!(index.find("GET", "http://a/"), Err(FindError::NoMatch));
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
