//! `juju-log` (spec/juju-runtime.md §2.2): immediate, not transactional.

use super::flags::{FORMAT, boolean, value};
use super::{Outcome, Reply, parse};
use crate::session::{LogLine, Session};

const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

pub(super) fn juju_log(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(
        args,
        &[FORMAT, value(&["log-level", "l"]), boolean(&["debug"])],
    )?;
    if args.positionals.is_empty() {
        return Err(Reply::usage("no message specified"));
    }
    let level = match args.value("log-level") {
        _ if args.flag("debug") => "DEBUG".to_owned(),
        None => "INFO".to_owned(),
        Some(level) => {
            let upper = level.to_uppercase();
            // Juju logs an invalid level as INFO (with a warning of its own).
            if LEVELS.contains(&upper.as_str()) {
                upper
            } else {
                "INFO".to_owned()
            }
        }
    };
    session.effects.juju_log.push(LogLine {
        level,
        message: args.positionals.join(" "),
    });
    Ok(String::new())
}
