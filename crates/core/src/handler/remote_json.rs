//! `authorizers.remote_json.config`: the decision is asked of another service with a JSON
//! payload (a Keto check, say).
//!
//! Upstream's keys (`AuthorizerRemoteJSONConfiguration`): those of [`super::remote`] plus
//! `payload`, a Go template over the authentication session (`.Subject`, `.Extra`,
//! `.MatchContext`) that must render JSON. Required: `remote` and `payload` (a rule may
//! supply either). Defaults as `remote`'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::remote::{self, Retry};
use super::{KeyError, present};

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The authorization endpoint. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The body sent: a Go template that must render JSON. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
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
    /// The keys shared with `remote`, whose accessors read them.
    pub fn call(&self) -> remote::Config {
        remote::Config {
            remote: self.remote.clone(),
            headers: self.headers.clone(),
            forward_response_headers_to_upstream: self.forward_response_headers_to_upstream.clone(),
            retry: self.retry.clone(),
        }
    }

    /// `payload`, set and not empty.
    pub fn payload(&self) -> Result<&str, KeyError> {
        self.payload
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or(KeyError::Missing { key: "payload" })
    }

    /// Every key checked (what decoding runs); missing required keys are reported last.
    pub fn check(&self) -> Result<(), KeyError> {
        self.call().check()?;
        self.payload().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::handler::{AuthorizerConfig, ConfigError};

    fn decode(config: &serde_json::Value) -> Result<Config, ConfigError> {
        match AuthorizerConfig::decode("remote_json", config)? {
            AuthorizerConfig::RemoteJson(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_option_decodes() {
        let c = decode(&json!({
            "remote": "https://keto/relation-tuples/check",
            "payload": r#"{"subject_id": "{{ print .Subject }}"}"#,
            "headers": {"X-Tenant": "{{ print .Extra.tenant }}"},
            "forward_response_headers_to_upstream": ["X-Allowed-By"],
            "retry": {"max_delay": "100ms", "give_up_after": "2s"},
        }))
        .unwrap();
        assert_eq!(
            c.payload().unwrap(),
            r#"{"subject_id": "{{ print .Subject }}"}"#
        );
        let call = c.call();
        assert_eq!(call.remote().unwrap(), "https://keto/relation-tuples/check");
        assert_eq!(
            call.headers().collect::<Vec<_>>(),
            [("X-Tenant", "{{ print .Extra.tenant }}")]
        );
        assert_eq!(
            call.forward_response_headers_to_upstream(),
            ["X-Allowed-By"]
        );
        assert_eq!(call.max_delay().unwrap(), Duration::from_millis(100));
        assert_eq!(call.give_up_after().unwrap(), Duration::from_secs(2));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(decode(&back).unwrap(), c);
    }

    #[test]
    fn defaults_are_remotes() {
        let c = decode(&json!({"remote": "http://k", "payload": "{}"})).unwrap();
        let call = c.call();
        assert_eq!(call.headers().count(), 0);
        assert!(call.forward_response_headers_to_upstream().is_empty());
        assert_eq!(call.max_delay().unwrap(), Duration::from_millis(500));
        assert_eq!(call.give_up_after().unwrap(), Duration::from_secs(1));
    }

    #[test]
    fn errors_name_the_key() {
        for (key, config) in [
            ("remote", json!({"payload": "{}"})),
            ("payload", json!({"remote": "http://k"})),
            ("payload", json!({"remote": "http://k", "payload": ""})),
        ] {
            match decode(&config) {
                Err(ConfigError::Key(KeyError::Missing { key: k })) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        match decode(&json!({"remote": "http://k", "payload": "{}",
                             "retry": {"give_up_after": "0ms"}}))
        {
            Err(ConfigError::Key(KeyError::Invalid { key, .. })) => {
                assert_eq!(key, "retry.give_up_after");
            }
            other => panic!("{other:?}"),
        }
        for (key, config) in [
            (
                "payload",
                json!({"remote": "http://k", "payload": {"a": 1}}),
            ),
            ("paylod", json!({"remote": "http://k", "paylod": "{}"})),
        ] {
            let e = decode(&config).unwrap_err();
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }
}
