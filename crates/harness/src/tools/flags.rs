//! Flag parsing the way Juju's hook tools do it (juju/gnuflag, spec/juju-runtime.md §2.1):
//! flags interspersed with positionals, `--flag=value` and `--flag value`, booleans as `--app`
//! or `--app=True` (Go's `strconv.ParseBool`), `--` ends flags, a lone `-` is a positional.

use std::collections::BTreeMap;

use super::Reply;

/// Whether a flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--app`, `--app=true`.
    Bool,
    /// `-r 7`, `--relation=db:7`.
    Value,
}

/// One flag: its names (the first is canonical) and kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    pub(crate) names: &'static [&'static str],
    pub(crate) kind: Kind,
}

/// A value flag.
pub(crate) const fn value(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        kind: Kind::Value,
    }
}

/// A boolean flag.
pub(crate) const fn boolean(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        kind: Kind::Bool,
    }
}

/// `--format`, accepted by every tool.
pub(crate) const FORMAT: Flag = value(&["format"]);

/// Parsed arguments.
#[derive(Debug, Default)]
pub(crate) struct Args {
    values: BTreeMap<&'static str, String>,
    bools: BTreeMap<&'static str, bool>,
    /// Positional arguments, in order.
    pub(crate) positionals: Vec<String>,
}

impl Args {
    /// A value flag by canonical name.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean flag by canonical name (false when absent).
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `args` against `flags`; a usage error is an exit-2 [`Reply`].
pub(crate) fn parse(args: &[String], flags: &[Flag]) -> Result<Args, Reply> {
    let mut parsed = Args::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            parsed.positionals.extend(rest.cloned());
            break;
        }
        let Some(body) = arg.strip_prefix('-').filter(|body| !body.is_empty()) else {
            parsed.positionals.push(arg.clone());
            continue;
        };
        let dashes = if body.starts_with('-') { "--" } else { "-" };
        let body = body.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(flag) = flags.iter().find(|flag| flag.names.contains(&name)) else {
            return Err(Reply::usage(&format!(
                "option provided but not defined: {dashes}{name}"
            )));
        };
        let canonical = flag.names[0];
        match flag.kind {
            Kind::Bool => {
                let value = match inline {
                    None => true,
                    Some(text) => parse_bool(text).ok_or_else(|| {
                        Reply::usage(&format!(
                            "invalid boolean value {text:?} for option {dashes}{name}"
                        ))
                    })?,
                };
                parsed.bools.insert(canonical, value);
            }
            Kind::Value => {
                let value = match inline {
                    Some(text) => text.to_owned(),
                    None => rest.next().cloned().ok_or_else(|| {
                        Reply::usage(&format!("option needs an argument: {dashes}{name}"))
                    })?,
                };
                parsed.values.insert(canonical, value);
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[FORMAT, value(&["r", "relation"]), boolean(&["app"])];

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_are_interspersed_with_positionals_in_every_spelling() {
        let parsed = parse(
            &args(&["db", "--format=json", "-r", "db:7", "--app=True", "-", "x"]),
            FLAGS,
        )
        .unwrap();
        assert_eq!(parsed.value("format"), Some("json"));
        assert_eq!(parsed.value("r"), Some("db:7"));
        assert!(parsed.flag("app"));
        assert_eq!(parsed.positionals, ["db", "-", "x"]);
        let parsed = parse(&args(&["--relation", "7", "--app=false"]), FLAGS).unwrap();
        assert_eq!(parsed.value("r"), Some("7"));
        assert!(!parsed.flag("app"));
    }

    #[test]
    fn double_dash_ends_flags() {
        let parsed = parse(&args(&["--", "--app", "-r"]), FLAGS).unwrap();
        assert_eq!(parsed.positionals, ["--app", "-r"]);
        assert!(!parsed.flag("app"));
    }

    #[test]
    fn unknown_flags_and_missing_values_are_usage_errors() {
        let error = parse(&args(&["-x"]), FLAGS).unwrap_err();
        assert_eq!(error.code, 2);
        assert_eq!(error.stderr, "ERROR option provided but not defined: -x\n");
        let error = parse(&args(&["-r"]), FLAGS).unwrap_err();
        assert_eq!(error.stderr, "ERROR option needs an argument: -r\n");
        let error = parse(&args(&["--app=maybe"]), FLAGS).unwrap_err();
        assert_eq!(error.code, 2);
    }
}
