//! `network-get` (spec/juju-runtime.md §2.2): a binding is an endpoint, an extra binding or
//! `juju-info`.

use serde_json::{Value, json};

use super::flags::{FORMAT, boolean, value};
use super::{Outcome, Reply, at_most, parse, print};
use crate::session::Session;
use crate::state::Network;

pub(super) fn network_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(
        args,
        &[
            FORMAT,
            value(&["r", "relation"]),
            boolean(&["bind-address"]),
            boolean(&["ingress-address"]),
            boolean(&["egress-subnets"]),
            boolean(&["primary-address"]),
        ],
    )?;
    at_most(&args, 1)?;
    let Some(binding) = args.positionals.first() else {
        return Err(Reply::usage("no arguments specified"));
    };
    let known = binding == "juju-info"
        || session.charm.endpoints.contains_key(binding)
        || session.charm.extra_bindings.contains(binding)
        || session.working.networks.contains_key(binding);
    if !known {
        return Err(Reply::fail(&format!(
            "no network config found for binding {binding:?}"
        )));
    }
    let network = session
        .working
        .networks
        .get(binding)
        .cloned()
        .unwrap_or_else(Network::default);
    if args.flag("bind-address") || args.flag("primary-address") {
        return print(format, &Value::String(network.address));
    }
    if args.flag("ingress-address") {
        let first = network
            .ingress_addresses
            .first()
            .cloned()
            .unwrap_or_default();
        return print(format, &Value::String(first));
    }
    if args.flag("egress-subnets") {
        return print(format, &json!(network.egress_subnets));
    }
    print(
        format,
        &json!({
            "bind-addresses": [{
                "mac-address": "",
                "interface-name": network.interface,
                "addresses": [{"hostname": "", "value": network.address, "cidr": network.cidr}],
            }],
            "egress-subnets": network.egress_subnets,
            "ingress-addresses": network.ingress_addresses,
        }),
    )
}
