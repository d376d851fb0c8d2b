//! CORS for the API listener (`serve.api.cors`), applied before routing, so a preflight is
//! answered here and never authenticated (upstream #1054).

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use oathkeeper_core::config::Cors as Config;

use crate::pipeline::ResponseBody;

/// Compiled CORS settings.
#[derive(Debug, Clone)]
pub struct Cors {
    enabled: bool,
    any_origin: bool,
    origins: Vec<String>,
    methods: HeaderValue,
    method_list: Vec<String>,
    headers: HeaderValue,
    exposed: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

impl Cors {
    /// Compiles the config.
    pub fn new(config: &Config) -> Cors {
        let join = |list: &[String]| {
            HeaderValue::try_from(list.join(", ")).unwrap_or(HeaderValue::from_static(""))
        };
        Cors {
            enabled: config.enabled,
            any_origin: config.allowed_origins.iter().any(|o| o == "*"),
            origins: config
                .allowed_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            methods: join(&config.allowed_methods),
            method_list: config
                .allowed_methods
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            headers: join(&config.allowed_headers),
            exposed: (!config.exposed_headers.is_empty()).then(|| join(&config.exposed_headers)),
            credentials: config.allow_credentials,
            max_age: (config.max_age > 0).then(|| HeaderValue::from(config.max_age)),
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.any_origin
            || self
                .origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin) || wildcard(o, origin))
    }

    /// Answers a preflight request, if this is one.
    pub fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Response<ResponseBody>> {
        if !self.enabled
            || method != Method::OPTIONS
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?;
        let mut response = Response::new(ResponseBody::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        out.insert(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        let requested = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .unwrap_or("");
        let allowed = origin.to_str().is_ok_and(|o| self.origin_allowed(o))
            && self
                .method_list
                .iter()
                .any(|m| m.eq_ignore_ascii_case(requested));
        if allowed {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.allow_origin(origin),
            );
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, self.headers.clone());
            if self.credentials {
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(age) = &self.max_age {
                out.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
            }
        }
        Some(response)
    }

    /// Adds CORS headers to an actual response.
    pub fn decorate(&self, request_headers: &HeaderMap, response: &mut Response<ResponseBody>) {
        if !self.enabled {
            return;
        }
        let Some(origin) = request_headers.get(header::ORIGIN) else {
            return;
        };
        let out = response.headers_mut();
        out.append(header::VARY, HeaderValue::from_static("Origin"));
        if !origin.to_str().is_ok_and(|o| self.origin_allowed(o)) {
            return;
        }
        out.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin(origin),
        );
        if let Some(exposed) = &self.exposed {
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed.clone());
        }
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        // With credentials, `*` is not allowed by browsers: echo the origin.
        if self.any_origin && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }
}

/// `https://*.example.com` style patterns (one `*`).
fn wildcard(pattern: &str, origin: &str) -> bool {
    match pattern.split_once('*') {
        Some((prefix, suffix)) => {
            origin.len() >= prefix.len() + suffix.len()
                && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
                && origin[origin.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => false,
    }
}
