//! Ports: `open-port`, `close-port`, `opened-ports` (spec/juju-runtime.md §2.2). Opens and
//! closes are buffered by Juju until the hook exits 0; `opened-ports` shows committed ports.

use std::fmt;
use std::str::FromStr;

use super::{Error, FORMAT_JSON, argv, parse_json};

/// `open-port`.
pub const OPEN_PORT: &str = "open-port";
/// `close-port`.
pub const CLOSE_PORT: &str = "close-port";
/// `opened-ports`.
pub const OPENED_PORTS: &str = "opened-ports";
/// `icmp`, the port-less protocol.
pub const ICMP: &str = "icmp";

/// A port, port range or ICMP, as the port tools spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Port {
    /// `<from>/tcp` or `<from>-<to>/tcp`.
    Tcp {
        /// First port.
        from: u16,
        /// Last port (equal to `from` for one port).
        to: u16,
    },
    /// `<from>/udp` or `<from>-<to>/udp`.
    Udp {
        /// First port.
        from: u16,
        /// Last port (equal to `from` for one port).
        to: u16,
    },
    /// `icmp`.
    Icmp,
}

impl Port {
    /// One TCP port.
    pub fn tcp(port: u16) -> Port {
        Port::Tcp {
            from: port,
            to: port,
        }
    }

    /// One UDP port.
    pub fn udp(port: u16) -> Port {
        Port::Udp {
            from: port,
            to: port,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to, protocol) = match *self {
            Port::Icmp => return f.write_str(ICMP),
            Port::Tcp { from, to } => (from, to, "tcp"),
            Port::Udp { from, to } => (from, to, "udp"),
        };
        if from == to {
            write!(f, "{from}/{protocol}")
        } else {
            write!(f, "{from}-{to}/{protocol}")
        }
    }
}

/// Why text is not a port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port \"{0}\": expected <port>[/<protocol>], <from>-<to>/<protocol> or icmp")]
pub struct PortError(pub String);

impl FromStr for Port {
    type Err = PortError;

    /// Parses `80/tcp`, `8000-8100/udp`, `icmp`, and a bare `80` (tcp, as Juju reads it).
    fn from_str(text: &str) -> Result<Port, PortError> {
        let bad = || PortError(text.to_owned());
        if text == ICMP {
            return Ok(Port::Icmp);
        }
        let (range, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
        let (from, to) = range.split_once('-').unwrap_or((range, range));
        let from: u16 = from.parse().map_err(|_| bad())?;
        let to: u16 = to.parse().map_err(|_| bad())?;
        if from > to {
            return Err(bad());
        }
        match protocol {
            "tcp" => Ok(Port::Tcp { from, to }),
            "udp" => Ok(Port::Udp { from, to }),
            _ => Err(bad()),
        }
    }
}

/// `open-port <port>/<protocol>` (or `<from>-<to>/<protocol>`, or `icmp`).
pub fn open_port_args(port: &Port) -> Vec<String> {
    argv(OPEN_PORT, [&port.to_string()])
}

/// `close-port <port>/<protocol>` (or `<from>-<to>/<protocol>`, or `icmp`).
pub fn close_port_args(port: &Port) -> Vec<String> {
    argv(CLOSE_PORT, [&port.to_string()])
}

/// `opened-ports --format=json`.
pub fn opened_ports_args() -> Vec<String> {
    argv(OPENED_PORTS, [FORMAT_JSON])
}

/// Parses `["80/tcp","8000-8100/udp","icmp"]`. An endpoint suffix (`"80/tcp (*)"`, printed
/// with `--endpoints`) is ignored.
pub fn parse_opened_ports(stdout: &[u8]) -> Result<Vec<Port>, Error> {
    let items: Option<Vec<String>> = parse_json(OPENED_PORTS, stdout)?;
    items
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let port = item.split_once(' ').map_or(item.as_str(), |(p, _)| p);
            port.parse()
                .map_err(|e| Error::invalid_output(OPENED_PORTS, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_print_as_the_tools_spell_them() {
        assert_eq!(open_port_args(&Port::tcp(8080)), ["open-port", "8080/tcp"]);
        assert_eq!(
            open_port_args(&Port::Udp {
                from: 8000,
                to: 8100
            }),
            ["open-port", "8000-8100/udp"]
        );
        assert_eq!(open_port_args(&Port::Icmp), ["open-port", "icmp"]);
        assert_eq!(close_port_args(&Port::udp(53)), ["close-port", "53/udp"]);
        assert_eq!(opened_ports_args(), ["opened-ports", "--format=json"]);
    }

    #[test]
    fn ports_parse_including_a_bare_number_as_tcp() {
        for (text, want) in [
            ("80/tcp", Port::tcp(80)),
            ("80", Port::tcp(80)),
            ("53/udp", Port::udp(53)),
            (
                "8000-8100/udp",
                Port::Udp {
                    from: 8000,
                    to: 8100,
                },
            ),
            ("icmp", Port::Icmp),
        ] {
            assert_eq!(text.parse::<Port>().unwrap(), want, "{text}");
        }
        for bad in ["", "x/tcp", "80/sctp", "90-80/tcp", "70000/tcp", "80/"] {
            assert!(bad.parse::<Port>().is_err(), "{bad}");
        }
    }

    #[test]
    fn opened_ports_parse_from_juju_json() {
        assert_eq!(
            parse_opened_ports(br#"["80/tcp","8000-8100/udp","icmp"]"#).unwrap(),
            [
                Port::tcp(80),
                Port::Udp {
                    from: 8000,
                    to: 8100
                },
                Port::Icmp
            ]
        );
        assert_eq!(
            parse_opened_ports(br#"["80/tcp (*)","81/tcp (ep1,ep2)"]"#).unwrap(),
            [Port::tcp(80), Port::tcp(81)]
        );
        assert!(parse_opened_ports(b"[]\n").unwrap().is_empty());
        assert!(matches!(
            parse_opened_ports(br#"["bogus"]"#),
            Err(Error::InvalidOutput { .. })
        ));
    }
}
