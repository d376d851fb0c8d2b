//! The loaded rules, kept once: as the JSON the `/rules` API answers.
//!
//! A parsed [`Rule`] costs about 1.5 KB on the heap in some twenty allocations (the id, seven
//! method names, each handler's name…); ten thousand of them were 15 MB, and they were kept
//! twice (the reload's last good version of each file and the snapshot's copy for the API).
//! Once a file has compiled, the server needs its rules for two things only: answering
//! `/rules`, and compiling that version again should a later version of the file fail. So a
//! file's rules are kept once, as their `/rules` JSON end to end in one string (about 0.4 KB
//! a rule, one allocation per file), shared by the snapshot and the reload's last good version,
//! and parsed back only when that version must compile again.

use std::sync::Arc;

use oathkeeper_core::rule::Rule;

/// The rules of one file, each as its `/rules` JSON. Cheap to clone (one reference count).
#[derive(Debug, Clone, Default)]
pub struct StoredRules(Arc<Stored>);

#[derive(Debug, Default)]
struct Stored {
    /// Every rule's JSON, separated by commas: a JSON array without its brackets.
    text: Box<str>,
    /// Where each rule's JSON ends in `text`; the next one starts after the comma.
    ends: Box<[usize]>,
}

impl StoredRules {
    /// Keeps `rules` as their `/rules` JSON ([`oathkeeper_core::rule::to_json`]'s form).
    pub fn new(rules: &[Rule]) -> StoredRules {
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            if i == 1 {
                // Room for all the rules if they are like the first, and half as much again:
                // growing a megabytes-long buffer by doubling would leave each smaller copy
                // behind as freed pages the allocator keeps (resident), while capacity that is
                // never written costs no memory and is returned by the shrink below.
                text.reserve((text.len() + 1) * (rules.len() * 3 / 2));
            }
            if !text.is_empty() {
                text.push(b',');
            }
            // invariant: a rule serialises infallibly (string keys, serde_json values), as in
            // `rule::to_json`; writing to a Vec does no I/O.
            let _ = serde_json::to_writer(&mut text, rule);
            ends.push(text.len());
        }
        // invariant: serde_json writes UTF-8.
        let text = String::from_utf8(text).unwrap_or_default();
        StoredRules(Arc::new(Stored {
            text: text.into(),
            ends: ends.into(),
        }))
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.0.ends.len()
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.0.ends.is_empty()
    }

    /// The JSON of rules `from..to` (positions in the file), comma-separated.
    fn slice(&self, from: usize, to: usize) -> &str {
        if from >= to {
            return "";
        }
        let start = if from == 0 {
            0
        } else {
            self.0.ends[from - 1] + 1
        };
        &self.0.text[start..self.0.ends[to - 1]]
    }

    /// Each rule's JSON, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.slice(i, i + 1))
    }

    /// The rules parsed back, or why they cannot be (which would be a bug: they were written
    /// by [`StoredRules::new`]).
    pub fn rules(&self) -> Result<Vec<Rule>, serde_json::Error> {
        self.iter().map(serde_json::from_str).collect()
    }

    /// True when both hold the same rules.
    pub fn same(&self, other: &StoredRules) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.text == other.0.text
    }
}

impl PartialEq for StoredRules {
    fn eq(&self, other: &StoredRules) -> bool {
        self.same(other)
    }
}

/// Every rule that serves, file after file: what the `/rules` API lists.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    files: Vec<StoredRules>,
    len: usize,
}

impl Rules {
    /// Appends the rules of a file.
    pub(crate) fn push(&mut self, file: StoredRules) {
        self.len += file.len();
        if !file.is_empty() {
            self.files.push(file);
        }
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no rule serves.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each rule's JSON, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.files.iter().flat_map(StoredRules::iter)
    }

    /// The JSON array of at most `limit` rules from position `offset` on (`/rules`): the same
    /// bytes as serialising those [`Rule`]s as an array.
    pub fn page_json(&self, offset: usize, limit: usize) -> String {
        let mut out = String::from("[");
        let (mut skip, mut left) = (offset, limit);
        for file in &self.files {
            if left == 0 {
                break;
            }
            if skip >= file.len() {
                skip -= file.len();
                continue;
            }
            let to = file.len().min(skip + left);
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(file.slice(skip, to));
            left -= to - skip;
            skip = 0;
        }
        out.push(']');
        out
    }

    /// The JSON of the first rule with id `id` (`/rules/<id>`).
    pub fn get_json(&self, id: &str) -> Option<&str> {
        // A rule's JSON starts with its id: `id` is the first field of `Rule`.
        let Ok(id) = serde_json::to_string(id) else {
            return None;
        };
        self.iter().find(|json| {
            json.strip_prefix("{\"id\":")
                .and_then(|rest| rest.strip_prefix(id.as_str()))
                .is_some_and(|rest| rest.starts_with(','))
        })
    }

    /// Every rule parsed back (tests).
    #[cfg(test)]
    pub(crate) fn parsed(&self) -> Vec<Rule> {
        self.files.iter().flat_map(|f| f.rules().unwrap()).collect()
    }
}

#[cfg(test)]
mod tests {
    use oathkeeper_core::rule::{parse_rules, to_json};

    use super::*;

    fn rules(ids: &[&str]) -> Vec<Rule> {
        let text: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    r#"{{"id":{},"match":{{"url":"http://h/{}","methods":["GET"]}},"authenticators":[{{"handler":"noop","config":{{"a":[1,"x,y"]}}}}],"authorizer":{{"handler":"allow"}},"mutators":[{{"handler":"noop"}}]}}"#,
                    serde_json::to_string(id).unwrap(),
                    id.len()
                )
            })
            .collect();
        parse_rules(format!("[{}]", text.join(",")).as_bytes()).unwrap()
    }

    #[test]
    fn stored_rules_read_back_as_they_were_and_list_as_upstream_serialises_them() {
        let a = rules(&["a", "b\"quoted\"", "c,comma"]);
        let b = rules(&[]);
        let c = rules(&["d", "e"]);
        let stored = StoredRules::new(&a);
        assert_eq!(stored.len(), 3);
        assert_eq!(stored.rules().unwrap(), a);
        let mut all = Rules::default();
        for file in [&a, &b, &c] {
            all.push(StoredRules::new(file));
        }
        let every: Vec<Rule> = a.iter().chain(&c).cloned().collect();
        assert_eq!(all.len(), 5);
        assert_eq!(all.parsed(), every);
        for offset in 0..7 {
            for limit in 0..7 {
                let end = every.len().min(offset + limit);
                let expected = to_json(every.get(offset.min(end)..end).unwrap_or_default());
                assert_eq!(all.page_json(offset, limit), expected, "{offset} {limit}");
            }
        }
        assert_eq!(
            all.iter().nth(3),
            Some(to_json(&c[..1]).trim_matches(['[', ']']))
        );
    }

    #[test]
    fn a_rule_is_found_by_its_exact_id() {
        let mut all = Rules::default();
        all.push(StoredRules::new(&rules(&["ab", "a", "b\"quoted\""])));
        let id_of = |json: &str| serde_json::from_str::<Rule>(json).unwrap().id;
        assert_eq!(all.get_json("a").map(id_of).as_deref(), Some("a"));
        assert_eq!(all.get_json("ab").map(id_of).as_deref(), Some("ab"));
        assert_eq!(
            all.get_json("b\"quoted\"").map(id_of).as_deref(),
            Some("b\"quoted\"")
        );
        assert_eq!(all.get_json("b"), None);
        assert_eq!(all.get_json(""), None);
    }
}
