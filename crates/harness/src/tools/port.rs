//! `open-port`, `close-port`, `opened-ports` (spec/juju-runtime.md §2.2). Opening and closing
//! are buffered; `opened-ports` shows only committed ports.

use serde_json::Value;

use super::flags::{FORMAT, boolean, value};
use super::{Outcome, Reply, at_most, parse, print};
use crate::session::Session;

/// Normalises `80`, `80/tcp`, `8000-8100/udp`, `icmp` to the spelling the tools print.
fn normalise(text: &str) -> Result<String, Reply> {
    if text == "icmp" {
        return Ok(text.to_owned());
    }
    let (range, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    if !matches!(protocol, "tcp" | "udp" | "icmp") {
        return Err(Reply::usage(&format!(
            "invalid protocol {protocol:?}, expected \"tcp\", \"udp\", or \"icmp\""
        )));
    }
    let invalid = || Reply::usage(&format!("invalid port {range:?}"));
    let port = |text: &str| {
        text.parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(invalid)
    };
    match range.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (port(from)?, port(to)?);
            if from > to {
                return Err(invalid());
            }
            Ok(format!("{from}-{to}/{protocol}"))
        }
        None => Ok(format!("{}/{protocol}", port(range)?)),
    }
}

pub(super) fn open_port(session: &mut Session, args: &[String], open: bool) -> Outcome {
    let (args, _) = parse(args, &[FORMAT, value(&["endpoints"])])?;
    at_most(&args, 1)?;
    let Some(text) = args.positionals.first() else {
        return Err(Reply::usage("no port or range specified"));
    };
    let port = normalise(text)?;
    let ports = &mut session.working.opened_ports;
    if open {
        if !ports.contains(&port) {
            ports.push(port);
        }
    } else {
        ports.retain(|opened| *opened != port);
    }
    Ok(String::new())
}

pub(super) fn opened_ports(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, boolean(&["endpoints"])])?;
    at_most(&args, 0)?;
    let suffix = if args.flag("endpoints") { " (*)" } else { "" };
    let ports = session
        .committed
        .opened_ports
        .iter()
        .map(|port| Value::String(format!("{port}{suffix}")))
        .collect();
    print(format, &Value::Array(ports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_normalise_to_the_tools_spelling() {
        assert_eq!(normalise("80").unwrap(), "80/tcp");
        assert_eq!(normalise("8000-8100/udp").unwrap(), "8000-8100/udp");
        assert_eq!(normalise("icmp").unwrap(), "icmp");
        assert_eq!(
            normalise("80/sctp").unwrap_err().stderr,
            "ERROR invalid protocol \"sctp\", expected \"tcp\", \"udp\", or \"icmp\"\n"
        );
    }
}
