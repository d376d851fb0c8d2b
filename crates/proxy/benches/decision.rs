//! The full in-process decision (URL rebuild, rule lookup, pipeline, answer) for an anonymous
//! request and for a `cookie_session` request served from the session cache, at 10 and 10,000
//! rules; and the header mutator's template rendering.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::Full;
use oathkeeper::decision::decide;
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::Cx;
use oathkeeper::snapshot::{RuleFile, Snapshot, compile};
use oathkeeper::template::{Data, Template, Value};
use oathkeeper_core::rule::{Handler, Match, Rule};
use oathkeeper_core::testing::{bench_config, many_rules};

const SESSION: &str = r#"{"id":"s","active":true,"expires_at":"2099-01-01T00:00:00Z","identity":{"id":"user-1","traits":{"email":"ann@example.com","name":"Ann"}}}"#;

/// A fake Kratos answering every whoami with one session, on a background thread.
fn fake_kratos() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(SESSION.as_bytes()),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    format!("http://{addr}")
}

fn snapshot(rules: usize, kratos: &str) -> Snapshot {
    let config = bench_config(kratos);
    let mut all = many_rules(rules);
    all.push(Rule {
        id: "public".into(),
        matcher: Match {
            methods: vec!["GET".into()],
            url: "https://public.example.com/<.*>".into(),
        },
        authenticators: vec![Handler {
            handler: "anonymous".into(),
            config: None,
        }],
        authorizer: Handler {
            handler: "allow".into(),
            config: None,
        },
        mutators: vec![Handler {
            handler: "header".into(),
            config: None,
        }],
        ..Rule::default()
    });
    compile(
        &config,
        &[RuleFile {
            repository: "bench".into(),
            rules: all,
        }],
        Default::default(),
    )
}

fn parts(host: &str, uri: &str, cookie: Option<&str>) -> http::request::Parts {
    let mut r = Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .header("Accept", "*/*");
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    r.body(()).unwrap().into_parts().0
}

fn decisions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let kratos = fake_kratos();
    let metrics = Metrics::new("");
    let mut group = c.benchmark_group("decision");
    for n in [10usize, 10_000] {
        let snap = snapshot(n, &kratos);
        let anonymous = parts("public.example.com", "/page", None);
        let session = parts(
            "app0.example.com",
            "/private/page",
            Some("ory_kratos_session=abc"),
        );
        let miss = parts("nowhere.example.org", "/x", None);
        // Warm the session cache.
        let warm = rt.block_on(decide(&snap, &session, None, &Cx { metrics: &metrics }));
        assert_eq!(warm.0.status(), 200, "{:?}", warm.1);
        for (name, p) in [
            ("anonymous", &anonymous),
            ("cookie_session_cached", &session),
            ("no_rule", &miss),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), p, |b, p| {
                b.to_async(&rt).iter(|| async {
                    black_box(decide(&snap, p, None, &Cx { metrics: &metrics }).await.0)
                })
            });
        }
    }
    group.finish();
}

struct Dot(serde_json::Value);

impl Data for Dot {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "Subject" => Value::Str("user-1".into()),
            "Extra" => Value::Json(&self.0),
            _ => Value::Missing,
        }
    }
}

fn templates(c: &mut Criterion) {
    let dot = Dot(serde_json::from_str::<serde_json::Value>(SESSION).unwrap());
    let mut out = String::with_capacity(64);
    for (name, source) in [
        ("subject", "{{ print .Subject }}"),
        ("email", "{{ print .Extra.identity.traits.email }}"),
        (
            "printf",
            r#"{{ printf "%s <%s>" .Extra.identity.traits.name .Extra.identity.traits.email }}"#,
        ),
    ] {
        let t = Template::parse(source).unwrap();
        c.bench_function(&format!("template/{name}"), |b| {
            b.iter(|| {
                out.clear();
                t.render(&dot, &mut out).unwrap();
                black_box(out.len())
            })
        });
    }
}

criterion_group!(benches, decisions, templates);
criterion_main!(benches);
