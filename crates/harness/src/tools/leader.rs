//! `is-leader` (spec/juju-runtime.md §2.2): works in every hook.

use serde_json::Value;

use super::{Outcome, at_most, flags::FORMAT, parse, print};
use crate::session::Session;

pub(super) fn is_leader(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT])?;
    at_most(&args, 0)?;
    print(format, &Value::Bool(session.working.leader))
}
