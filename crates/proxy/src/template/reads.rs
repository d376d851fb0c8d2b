//! What of the dot a template can read, found from its tree: so that a caller can tell that a
//! rendering depends on nothing but some fields (and reuse it while they stay the same).
//!
//! The answer is conservative: `true` only when every value the template reads is reached
//! through one of the allowed top-level fields. The whole dot (`.`, `$`) and every
//! `with`/`range` (whose dot is another value) answer `false`. Every function is a pure
//! function of its arguments, so functions and literals read nothing.

use super::parse::{Node, Operand, Pipeline};

/// Whether `nodes` read the dot only through the fields named in `allowed`.
pub(crate) fn reads_only(nodes: &[Node], allowed: &[&str]) -> bool {
    nodes.iter().all(|n| node(n, allowed))
}

fn node(n: &Node, allowed: &[&str]) -> bool {
    match n {
        Node::Text(..) | Node::Break | Node::Continue => true,
        Node::Action(pipe) => pipeline(pipe, allowed),
        Node::If(b) => {
            pipeline(&b.pipe, allowed)
                && reads_only(&b.then, allowed)
                && reads_only(&b.otherwise, allowed)
        }
        Node::With(_) | Node::Range(_) => false,
    }
}

fn pipeline(pipe: &Pipeline, allowed: &[&str]) -> bool {
    pipe.cmds
        .iter()
        .all(|c| operand(&c.head, allowed) && c.args.iter().all(|a| operand(a, allowed)))
}

fn operand(o: &Operand, allowed: &[&str]) -> bool {
    let top = |fields: &[String]| {
        fields
            .first()
            .is_some_and(|f| allowed.contains(&f.as_str()))
    };
    match o {
        Operand::Func(_)
        | Operand::Str(_)
        | Operand::Int(_)
        | Operand::Float(_)
        | Operand::Bool(_)
        | Operand::Nil => true,
        Operand::Dot => false,
        Operand::Field(fields) => top(fields),
        // `$` is the whole dot.
        Operand::Var { slot: None, fields } => top(fields),
        // A variable holds what a pipeline of this template computed, itself checked (no
        // `range` or `with` binds one here).
        Operand::Var { slot: Some(_), .. } => true,
        Operand::Pipe { pipe, .. } => pipeline(pipe, allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Template;

    #[test]
    fn templates_reading_only_the_subject_and_extra_are_told_apart() {
        let only = |source: &str| {
            Template::parse(source)
                .unwrap()
                .reads_only(&["Subject", "Extra"])
        };
        for source in [
            "{{ print .Subject }}",
            "{{ print .Extra.identity.traits.email }}",
            "plain text",
            r#"{{ printf "%s <%s>" .Extra.name .Extra.email | upper }}"#,
            "{{ if .Extra.admin }}yes{{ else }}{{ .Subject }}{{ end }}",
            "{{ $e := .Extra.email }}{{ $e }}{{ $.Subject }}",
            "{{ (index .Extra \"k\").x }}",
            "{{ default \"none\" (.Extra.a) }}",
        ] {
            assert!(only(source), "{source}");
        }
        for source in [
            "{{ print .MatchContext.URL }}",
            "{{ .Header.Get \"X\" }}",
            "{{ toJson . }}",
            "{{ $ }}",
            "{{ $.MatchContext.Method }}",
            "{{ with .Extra }}{{ .email }}{{ end }}",
            "{{ range .Extra.groups }}{{ . }}{{ end }}",
            "{{ if .Subject }}{{ .MatchContext.Method }}{{ end }}",
            "{{ printf \"%s\" (print .Header) }}",
        ] {
            assert!(!only(source), "{source}");
        }
    }
}
