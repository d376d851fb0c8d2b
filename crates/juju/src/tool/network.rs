//! Networking: `network-get` (spec/juju-runtime.md §2.2).

use serde::Deserialize;

use super::relation::{RELATION_FLAG, RelationId};
use super::{Error, FORMAT_JSON, argv, parse_json};

/// `network-get`.
pub const NETWORK_GET: &str = "network-get";
/// `juju-info`, the binding every charm has.
pub const JUJU_INFO: &str = "juju-info";

/// `network-get --format=json [-r <endpoint>:<id>] <binding>`; `binding` is an endpoint or
/// extra-binding name.
pub fn network_get_args(binding: &str, relation: Option<&RelationId>) -> Vec<String> {
    let mut args = argv(NETWORK_GET, [FORMAT_JSON]);
    if let Some(relation) = relation {
        args.extend([RELATION_FLAG.to_owned(), relation.to_string()]);
    }
    args.push(binding.to_owned());
    args
}

/// The network a binding uses. Juju omits empty lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Network {
    /// The interfaces and their addresses.
    #[serde(default)]
    pub bind_addresses: Vec<BindAddress>,
    /// Subnets egress traffic comes from (`10.1.2.3/32`).
    #[serde(default)]
    pub egress_subnets: Vec<String>,
    /// Addresses others should use to reach this unit.
    #[serde(default)]
    pub ingress_addresses: Vec<String>,
}

impl Network {
    /// The first ingress address, the one a charm usually advertises.
    pub fn ingress_address(&self) -> Option<&str> {
        self.ingress_addresses.first().map(String::as_str)
    }
}

/// One interface of a binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BindAddress {
    /// The MAC address (may be empty).
    #[serde(default)]
    pub mac_address: String,
    /// The interface name, e.g. `eth0`.
    #[serde(default)]
    pub interface_name: String,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<Address>,
}

/// One address of an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Address {
    /// The hostname (may be empty).
    #[serde(default)]
    pub hostname: String,
    /// The address; Juju < 2.9 called it `address`.
    #[serde(alias = "address")]
    pub value: String,
    /// The subnet, e.g. `10.1.2.0/24`.
    #[serde(default)]
    pub cidr: String,
}

/// Parses `network-get`'s object.
pub fn parse_network_get(stdout: &[u8]) -> Result<Network, Error> {
    parse_json(NETWORK_GET, stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_get_names_the_binding_last() {
        assert_eq!(
            network_get_args("juju-info", None),
            ["network-get", "--format=json", "juju-info"]
        );
        assert_eq!(
            network_get_args("ingress", Some(&RelationId::new("ingress", 4))),
            ["network-get", "--format=json", "-r", "ingress:4", "ingress"]
        );
    }

    #[test]
    fn network_get_parses_the_spec_example() {
        let n = parse_network_get(
            br#"{"bind-addresses":[{"mac-address":"","interface-name":"eth0","addresses":[{"hostname":"","value":"10.1.2.3","cidr":"10.1.2.0/24"}]}],"egress-subnets":["10.1.2.3/32"],"ingress-addresses":["10.1.2.3"]}"#,
        )
        .unwrap();
        assert_eq!(n.ingress_address(), Some("10.1.2.3"));
        assert_eq!(n.egress_subnets, ["10.1.2.3/32"]);
        assert_eq!(n.bind_addresses[0].interface_name, "eth0");
        assert_eq!(
            n.bind_addresses[0].addresses[0],
            Address {
                hostname: String::new(),
                value: "10.1.2.3".into(),
                cidr: "10.1.2.0/24".into()
            }
        );
    }

    #[test]
    fn network_get_accepts_old_address_fields_and_omitted_lists() {
        let n = parse_network_get(
            br#"{"bind-addresses":[{"interface-name":"eth0","addresses":[{"address":"10.0.0.1","cidr":""}]}]}"#,
        )
        .unwrap();
        assert_eq!(n.bind_addresses[0].addresses[0].value, "10.0.0.1");
        assert!(n.ingress_addresses.is_empty());
        assert_eq!(n.ingress_address(), None);
    }
}
