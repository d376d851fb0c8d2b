//! `authorizers.remote.config`: the decision is asked of another service.
//!
//! Keys and defaults are upstream's (`AuthorizerRemoteConfiguration`): `remote` (required, the
//! URL called with `POST`), `headers` (name → Go template over the authentication session,
//! sent when the rendered value is not empty), `forward_response_headers_to_upstream` (names
//! of the remote's answer headers copied into the 200 answer), `retry.max_delay` 500ms and
//! `retry.give_up_after` 1s (the code's defaults; the schema says 100ms). Durations are Go
//! duration text. `remote_json` ([`super::remote_json`]) takes the same keys plus `payload`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::Retry;
use super::{KeyError, present};

/// Default `retry.max_delay`: the connect timeout and the longest pause between attempts.
pub const DEFAULT_MAX_DELAY: &str = "500ms";
/// Default `retry.give_up_after`: the whole budget of one authorization, retries included.
pub const DEFAULT_GIVE_UP_AFTER: &str = "1s";

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The authorization endpoint. Required (a rule may supply it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Header name → template, set on the call when the rendered value is not empty.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub headers: Option<BTreeMap<String, String>>,
    /// Headers of the remote's 200 answer copied into the answer to the proxy.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub forward_response_headers_to_upstream: Option<Vec<String>>,
    /// Timeouts and retries.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry: Option<Retry>,
}

impl Config {
    /// `remote`, set and not empty.
    pub fn remote(&self) -> Result<&str, KeyError> {
        self.remote
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or(KeyError::Missing { key: "remote" })
    }

    /// The header templates (none by default).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The answer headers to forward (none by default).
    pub fn forward_response_headers_to_upstream(&self) -> &[String] {
        self.forward_response_headers_to_upstream
            .as_deref()
            .unwrap_or_default()
    }

    /// `retry.max_delay`, greater than zero.
    pub fn max_delay(&self) -> Result<Duration, KeyError> {
        Retry::max_delay(self.retry.as_ref(), "retry.max_delay", DEFAULT_MAX_DELAY)
    }

    /// `retry.give_up_after`, greater than zero.
    pub fn give_up_after(&self) -> Result<Duration, KeyError> {
        Retry::give_up_after(
            self.retry.as_ref(),
            "retry.give_up_after",
            DEFAULT_GIVE_UP_AFTER,
        )
    }

    /// Every key checked (what decoding runs); a missing `remote` is reported last.
    pub fn check(&self) -> Result<(), KeyError> {
        self.max_delay()?;
        self.give_up_after()?;
        self.remote().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::handler::{AuthorizerConfig, ConfigError};

    fn decode(config: &serde_json::Value) -> Result<Config, ConfigError> {
        match AuthorizerConfig::decode("remote", config)? {
            AuthorizerConfig::Remote(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_option_decodes() {
        let c = decode(&json!({
            "remote": "https://keto/check",
            "headers": {"X-Subject": "{{ print .Subject }}"},
            "forward_response_headers_to_upstream": ["X-Allowed-By"],
            "retry": {"max_delay": "200ms", "give_up_after": "3s"},
        }))
        .unwrap();
        assert_eq!(c.remote().unwrap(), "https://keto/check");
        assert_eq!(
            c.headers().collect::<Vec<_>>(),
            [("X-Subject", "{{ print .Subject }}")]
        );
        assert_eq!(c.forward_response_headers_to_upstream(), ["X-Allowed-By"]);
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(200));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(3));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(decode(&back).unwrap(), c);
    }

    #[test]
    fn defaults_are_upstreams() {
        let c = decode(&json!({"remote": "http://keto/check"})).unwrap();
        assert_eq!(c.headers().count(), 0);
        assert!(c.forward_response_headers_to_upstream().is_empty());
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(500));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(1));
        // A partial retry block keeps the other default.
        let c = decode(&json!({"remote": "http://k", "retry": {"give_up_after": "2s"}})).unwrap();
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(500));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_key() {
        for config in [json!({}), json!({"remote": ""})] {
            assert!(
                matches!(
                    decode(&config),
                    Err(ConfigError::Key(KeyError::Missing { key: "remote" }))
                ),
                "{config}"
            );
        }
        for (key, retry) in [
            ("retry.max_delay", json!({"max_delay": "0s"})),
            ("retry.max_delay", json!({"max_delay": "soon"})),
            ("retry.give_up_after", json!({"give_up_after": "-1s"})),
        ] {
            match decode(&json!({"remote": "http://k", "retry": retry})) {
                Err(ConfigError::Key(KeyError::Invalid { key: k, .. })) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        for (key, config) in [
            ("payload", json!({"remote": "http://k", "payload": "{}"})),
            ("headers", json!({"remote": "http://k", "headers": ["X"]})),
            (
                "forward_response_headers_to_upstream",
                json!({"remote": "http://k", "forward_response_headers_to_upstream": "X"}),
            ),
            ("retry", json!({"remote": "http://k", "retry": null})),
        ] {
            let e = decode(&config).unwrap_err();
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }
}
