//! `tracing` (requires, limit 1, interface `tracing`): spans to Tempo over OTLP/HTTP, in the
//! wire format of `charms.tempo_coordinator_k8s.v0.tracing` and `charms.tempo_k8s.v2.tracing`,
//! which agree (spec/charm-parity.md §5.7 and the Addendum).
//!
//! - Our app databag (leader): `receivers` = `["otlp_http"]`, the one protocol we request.
//! - The provider's app databag: `receivers` = a JSON list of
//!   `{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://<host>:4318"}`; the
//!   workload exports to `<url>/v1/traces`.
//!
//! Only the `otlp_http` receiver is used. Its URL must be the receiver's root (`http(s)://host`
//! with an optional port): the workload's config names the collector as `host:port`, as
//! upstream's `TRACING_PROVIDERS_OTLP_SERVER_URL`, and adds `/v1/traces` itself, so a path
//! could not be honoured and is refused rather than dropped.

use serde_json::Value;

use super::{Databag, FieldError, json_dumps_strings};

/// The endpoint.
pub const ENDPOINT: &str = "tracing";
/// The key of both sides' app databags.
pub const RECEIVERS: &str = "receivers";
/// The protocol we request and use.
pub const OTLP_HTTP: &str = "otlp_http";
/// The transport of [`OTLP_HTTP`].
const HTTP: &str = "http";
/// The keys of our app databag.
pub const APP_KEYS: [&str; 1] = [RECEIVERS];

/// The provider's `otlp_http` receiver, as the workload's config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpReceiver {
    /// The URL as the provider wrote it, e.g. `http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318`.
    pub url: String,
    /// `host:port` (the scheme's default port when the URL names none): the config's
    /// `tracing.providers.otlp.server_url`.
    pub server_url: String,
    /// The URL is plain `http`: the config's `insecure`.
    pub insecure: bool,
}

/// Our app databag: the protocols we request, `json.dumps`'d as the library does.
pub fn render_requirer() -> Databag {
    Databag::from([(RECEIVERS.to_owned(), json_dumps_strings(&[OTLP_HTTP]))])
}

/// The provider's `otlp_http` receiver: `Ok(None)` while it has written no `receivers`; an
/// error naming the field when the value is not a list of receivers (every one with a
/// protocol name and type and a URL, as the library's model requires), has no `otlp_http`
/// receiver, or that receiver's URL is not an `http(s)://host[:port]` root.
pub fn parse_provider(bag: &Databag) -> Result<Option<OtlpReceiver>, FieldError> {
    let Some(raw) = bag.get(RECEIVERS) else {
        return Ok(None);
    };
    let invalid = |problem: String| FieldError::new(RECEIVERS, problem);
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(invalid(format!(
            "expected a JSON list of receivers, found {raw:?}"
        )));
    };
    let mut otlp_http = None;
    for (index, item) in items.iter().enumerate() {
        let text = |pointer: &str| item.pointer(pointer).and_then(Value::as_str);
        let (Some(name), Some(kind), Some(url)) =
            (text("/protocol/name"), text("/protocol/type"), text("/url"))
        else {
            return Err(invalid(format!(
                "receiver {index} is not {{\"protocol\": {{\"name\", \"type\"}}, \"url\"}}: {item}"
            )));
        };
        if name == OTLP_HTTP && otlp_http.is_none() {
            if kind != HTTP {
                return Err(invalid(format!(
                    "the {OTLP_HTTP} receiver has type {kind:?}, not \"{HTTP}\""
                )));
            }
            otlp_http = Some(url);
        }
    }
    let url = otlp_http.ok_or_else(|| invalid(format!("no {OTLP_HTTP} receiver")))?;
    let (server_url, insecure) = collector(url)
        .map_err(|problem| invalid(format!("the {OTLP_HTTP} URL {url:?} {problem}")))?;
    Ok(Some(OtlpReceiver {
        url: url.to_owned(),
        server_url,
        insecure,
    }))
}

/// `host:port` and whether the scheme is plain http, for an `http(s)://host[:port][/]` URL;
/// otherwise what is wrong with it.
fn collector(url: &str) -> Result<(String, bool), &'static str> {
    let (insecure, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (false, rest)
    } else {
        return Err("is not http(s)");
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !tail.is_empty() && tail != "/" {
        return Err("has a path, query or fragment (the receiver is the URL's root)");
    }
    if authority.contains('@') {
        return Err("has user info");
    }
    // `[v6]:port`, or `host:port`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']').ok_or("has an unclosed [")?;
            // An IPv6 address in full (`[fd1]` has only allowed characters but is none).
            if address.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("has an invalid IPv6 host");
            }
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or("has an invalid port")?),
            };
            (&authority[..address.len() + 2], port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("has no host");
    }
    let valid_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !host.starts_with('[') && !host.chars().all(valid_name) {
        return Err("has an invalid host");
    }
    let port = match port {
        None => {
            if insecure {
                80
            } else {
                443
            }
        }
        // Digits only: `u16::from_str` would take a leading `+`.
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            match port.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => return Err("has an invalid port"),
            }
        }
        Some(_) => return Err("has an invalid port"),
    };
    Ok((format!("{host}:{port}"), insecure))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPO: &str = "http://tempo-k8s-0.tempo-k8s-endpoints.namespace.svc.cluster.local:4318";

    fn provider(receivers: &str) -> Databag {
        Databag::from([(RECEIVERS.to_owned(), receivers.to_owned())])
    }

    /// The provider's databag of spec §5.7, byte for byte.
    fn spec_answer(url: &str) -> Databag {
        provider(&format!(
            r#"[{{"protocol": {{"name": "otlp_http", "type": "http"}}, "url": "{url}"}}]"#
        ))
    }

    #[test]
    fn spec_5_7_requirer_databag_bytes() {
        assert_eq!(
            render_requirer(),
            Databag::from([("receivers".to_owned(), r#"["otlp_http"]"#.to_owned())])
        );
    }

    #[test]
    fn spec_5_7_provider_answer_gives_host_port_and_insecure() {
        assert_eq!(
            parse_provider(&spec_answer(TEMPO)).unwrap(),
            Some(OtlpReceiver {
                url: TEMPO.to_owned(),
                server_url: "tempo-k8s-0.tempo-k8s-endpoints.namespace.svc.cluster.local:4318"
                    .to_owned(),
                insecure: true,
            })
        );
        let tls = parse_provider(&spec_answer("https://tempo.cos.svc:4318/"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (tls.server_url.as_str(), tls.insecure),
            ("tempo.cos.svc:4318", false)
        );
        let v6 = parse_provider(&spec_answer("http://[fd00::1]:4318"))
            .unwrap()
            .unwrap();
        assert_eq!(v6.server_url, "[fd00::1]:4318");
        // No port: the scheme's.
        let bare = parse_provider(&spec_answer("https://tempo.example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(bare.server_url, "tempo.example.com:443");
    }

    #[test]
    fn the_otlp_http_receiver_is_picked_among_others() {
        let bag = provider(
            r#"[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"},
                {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://tempo:4318"},
                {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://other:4318"}]"#,
        );
        assert_eq!(
            parse_provider(&bag).unwrap().unwrap().server_url,
            "tempo:4318"
        );
    }

    #[test]
    fn nothing_written_yet_is_not_an_error() {
        assert_eq!(parse_provider(&Databag::new()), Ok(None));
    }

    #[test]
    fn invalid_answers_name_the_field_and_the_problem() {
        let cases = [
            (provider("not json"), r#"expected a JSON list of receivers, found "not json""#.to_owned()),
            (provider(r#"{"url": "http://tempo:4318"}"#), r#"expected a JSON list of receivers, found "{\"url\": \"http://tempo:4318\"}""#.to_owned()),
            (provider("[]"), "no otlp_http receiver".to_owned()),
            (
                provider(r#"[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"}]"#),
                "no otlp_http receiver".to_owned(),
            ),
            (
                provider(r#"[{"protocol": "otlp_http", "url": "http://tempo:4318"}]"#),
                r#"receiver 0 is not {"protocol": {"name", "type"}, "url"}: {"protocol":"otlp_http","url":"http://tempo:4318"}"#.to_owned(),
            ),
            (
                provider(r#"[{"protocol": {"name": "otlp_http", "type": "grpc"}, "url": "http://tempo:4318"}]"#),
                r#"the otlp_http receiver has type "grpc", not "http""#.to_owned(),
            ),
        ];
        for (bag, problem) in cases {
            let error = parse_provider(&bag).unwrap_err();
            assert_eq!(error.field, RECEIVERS);
            assert_eq!(error.problem, problem);
        }
    }

    /// Found by the `tracing_receivers` fuzz target: hex digits and colons that are no address.
    #[test]
    fn a_bracketed_host_must_be_an_ipv6_address() {
        for host in ["[fd1]", "[:]", "[1:2:3]", "[::1::2]", "[12345::]"] {
            let url = format!("http://{host}:4318");
            let error = parse_provider(&spec_answer(&url)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("receivers: the otlp_http URL {url:?} has an invalid IPv6 host"),
            );
        }
        let ok = parse_provider(&spec_answer("http://[fd00::1]:4318"))
            .unwrap()
            .unwrap();
        assert_eq!(ok.server_url, "[fd00::1]:4318");
    }

    #[test]
    fn a_receiver_url_that_is_not_an_http_root_is_refused() {
        for (url, problem) in [
            ("grpc://tempo:4317", "is not http(s)"),
            ("tempo:4318", "is not http(s)"),
            ("http://", "has no host"),
            ("http://:4318", "has no host"),
            (
                "http://tempo:4318/v1/traces",
                "has a path, query or fragment (the receiver is the URL's root)",
            ),
            (
                "http://tempo:4318?x=1",
                "has a path, query or fragment (the receiver is the URL's root)",
            ),
            ("http://user:pw@tempo:4318", "has user info"),
            ("http://tempo:port", "has an invalid port"),
            ("http://tempo:0", "has an invalid port"),
            ("http://tempo:65536", "has an invalid port"),
            ("http://tempo:+80", "has an invalid port"),
            ("http://tempo:", "has an invalid port"),
            ("http://te mpo:4318", "has an invalid host"),
            ("http://[fd00::1", "has an unclosed ["),
            ("http://[zz]:4318", "has an invalid IPv6 host"),
            ("http://[]:4318", "has an invalid IPv6 host"),
        ] {
            let error = parse_provider(&spec_answer(url)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("receivers: the otlp_http URL {url:?} {problem}"),
                "{url}"
            );
        }
    }
}
