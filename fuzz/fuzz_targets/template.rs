//! Header and cookie mutator templates are parsed once per reload from rule files and rendered
//! on every allowed request. Any text must parse or be refused with an error; a template that
//! parses must render (or fail with an error) on a session shaped like the server's, without
//! panicking or running away.
#![no_main]

use std::borrow::Cow;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use oathkeeper::template::{Data, Template, Value};
use serde_json::json;

/// `.MatchContext.URL`, as the server exposes Go's `url.URL`.
struct Url;

impl Data for Url {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "Scheme" => Value::Str(Cow::Borrowed("https")),
            "Host" => Value::Str(Cow::Borrowed("app.example.com")),
            "Path" => Value::Str(Cow::Borrowed("/api/users/42")),
            "RawQuery" => Value::Str(Cow::Borrowed("a=1&b=%20")),
            "String" => Value::Str(Cow::Borrowed(
                "https://app.example.com/api/users/42?a=1&b=%20",
            )),
            _ => Value::Missing,
        }
    }
}

/// `.MatchContext`.
struct MatchContext {
    groups: Vec<String>,
    header: http::HeaderMap,
}

impl Data for MatchContext {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "RegexpCaptureGroups" => Value::Strings(&self.groups),
            "URL" => Value::Object(&Url),
            "Method" => Value::Str(Cow::Borrowed("GET")),
            "Header" => Value::Header(&self.header),
            _ => Value::Missing,
        }
    }
}

/// The dot: Oathkeeper's `AuthenticationSession`.
struct Session {
    extra: serde_json::Value,
    header: http::HeaderMap,
    match_context: MatchContext,
}

impl Data for Session {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "Subject" => Value::Str(Cow::Borrowed("9f4a1c7e-user")),
            "Extra" => Value::Json(&self.extra),
            "Header" => Value::Header(&self.header),
            "MatchContext" => Value::Object(&self.match_context),
            _ => Value::Missing,
        }
    }
}

static SESSION: LazyLock<Session> = LazyLock::new(|| {
    let mut header = http::HeaderMap::new();
    header.insert("x-foo", http::HeaderValue::from_static("bar"));
    header.append("x-multi", http::HeaderValue::from_static("one"));
    header.append("x-multi", http::HeaderValue::from_static("two"));
    Session {
        extra: json!({
            "identity": {"id": "u1", "traits": {"email": "a@b.c", "name": "Ann", "groups": ["x", "y"]}},
            "scp": ["read", "write"],
            "n": 1, "neg": -3, "big": 1e300, "half": 1.5, "t": true, "f": false,
            "nothing": null, "empty": "", "html": "<a href=\"x\">&</a>", "utf8": "é☃𝄞",
        }),
        header: header.clone(),
        match_context: MatchContext {
            groups: vec!["https".to_owned(), "42".to_owned(), String::new()],
            header,
        },
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(source) else {
        return;
    };
    let mut out = String::new();
    let _ = template.render(&*SESSION, &mut out);
});
