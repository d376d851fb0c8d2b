//! `/metrics` of the real binary (issue 19): the process metrics, the decision latency
//! histogram by result, the reload timestamp, and an exposition that a strict reader of the
//! text format accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oathkeeper_core::charm::config::{METRIC_NAME_PREFIX, METRICS_PATH};

use crate::server::{charm_files, kratos_knowing_ann};
use crate::support::{Server, eventually, http_get};

/// A metric's name under the prefix the charm deploys.
fn n(name: &str) -> String {
    format!("{METRIC_NAME_PREFIX}{name}")
}

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, read strictly.
#[derive(Debug)]
struct Exposition {
    samples: Vec<Sample>,
    /// Family name → type.
    types: BTreeMap<String, String>,
}

impl Exposition {
    /// The value of the one sample named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples.iter().filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        });
        let sample = found.next()?;
        assert!(
            found.next().is_none(),
            "{name} {labels:?} is not one series"
        );
        Some(sample.value)
    }
}

/// Reads the text exposition (OpenMetrics as prometheus-client writes it, which Prometheus'
/// text parser reads too), failing on anything a strict reader would refuse: a line that is
/// neither a `# HELP`/`# TYPE`/`# UNIT` comment nor a well-formed sample, a sample outside the
/// family declared just before it or with a suffix its type does not have, a family declared
/// twice, a series written twice, a histogram whose buckets are not cumulative or whose `+Inf`
/// bucket is not its count, and a missing or early `# EOF`.
fn parse(text: &str) -> Result<Exposition, String> {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    let mut family: Option<(String, String)> = None;
    let mut series = BTreeSet::new();
    let mut eof = false;
    for (n, line) in text.lines().enumerate() {
        let at = |e: &str| format!("line {}: {e}: {line:?}", n + 1);
        if eof {
            return Err(at("text after # EOF"));
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (keyword, name) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let rest = words.next();
            if !is_metric_name(name) {
                return Err(at("bad metric name"));
            }
            match keyword {
                "HELP" | "UNIT" => {}
                "TYPE" => {
                    let kind = rest.unwrap_or("");
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "info",
                        "unknown",
                    ];
                    if !known.contains(&kind) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at("family declared twice"));
                    }
                    family = Some((name.to_owned(), kind.to_owned()));
                }
                _ => return Err(at("unknown comment")),
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|e| at(&e))?;
        let Some((family_name, kind)) = &family else {
            return Err(at("sample before any # TYPE"));
        };
        let suffix = sample
            .name
            .strip_prefix(family_name.as_str())
            .ok_or_else(|| at("sample outside its family"))?;
        let allowed: &[&str] = match kind.as_str() {
            "counter" => &["_total", "_created"],
            "gauge" | "unknown" => &[""],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            "summary" => &["", "_sum", "_count", "_created"],
            _ => &["_info"],
        };
        if !allowed.contains(&suffix) {
            return Err(at("suffix not of the family's type"));
        }
        if suffix == "_bucket" && !sample.labels.contains_key("le") {
            return Err(at("bucket without le"));
        }
        if !series.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(at("series written twice"));
        }
        samples.push(sample);
    }
    if !eof {
        return Err("no # EOF".into());
    }
    let exposition = Exposition { samples, types };
    check_histograms(&exposition)?;
    Ok(exposition)
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{label="value",...} value`, the labels optional.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("bad metric name".into());
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inside) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inside.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = inside.split_once("=\"").ok_or("bad label")?;
            let first = key.chars().next().ok_or("empty label name")?;
            if !(first.is_ascii_alphabetic() || first == '_')
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!("bad label name {key:?}"));
            }
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err("bad escape in label value".into()),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            inside = &after[end + 1..];
            inside = inside.strip_prefix(',').unwrap_or(inside);
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    // No timestamps or exemplars are written.
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Each histogram series: buckets cumulative by `le`, a `+Inf` bucket equal to `_count`.
fn check_histograms(e: &Exposition) -> Result<(), String> {
    for (family, _) in e.types.iter().filter(|(_, t)| *t == "histogram") {
        let bucket = format!("{family}_bucket");
        let count = format!("{family}_count");
        let mut by_series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in e.samples.iter().filter(|s| s.name == bucket) {
            let mut labels = s.labels.clone();
            let le = labels.remove("le").unwrap_or_default();
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().map_err(|_| format!("{family}: bad le {le:?}"))?
            };
            by_series.entry(labels).or_default().push((le, s.value));
        }
        for (labels, mut buckets) in by_series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family} {labels:?}: buckets not cumulative"));
            }
            let last = buckets.last().copied().unwrap_or((0.0, 0.0));
            let total = e
                .samples
                .iter()
                .find(|s| s.name == count && s.labels == labels)
                .map(|s| s.value);
            if last.0 != f64::INFINITY || Some(last.1) != total {
                return Err(format!(
                    "{family} {labels:?}: +Inf bucket {last:?} is not the count {total:?}"
                ));
            }
        }
    }
    Ok(())
}

fn scrape(server: &Server) -> Exposition {
    let reply = http_get(server.metrics, METRICS_PATH, &[]).unwrap();
    assert_eq!(reply.status, 200);
    // The body is OpenMetrics (families, `# EOF`): the content type must say so.
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    parse(&reply.body).unwrap_or_else(|e| panic!("{e}\n{}", reply.body))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn the_strict_reader_refuses_what_prometheus_would() {
    let good = "# HELP a_total x\n# TYPE a counter\na_total{r=\"x\\\"y\"} 1\n# EOF\n";
    assert!(parse(good).is_ok());
    for bad in [
        "# TYPE a counter\na_total 1\n",           // no EOF
        "# TYPE a counter\na 1\n# EOF\n",          // counter without _total
        "# TYPE a gauge\nb 1\n# EOF\n",            // outside its family
        "# TYPE a gauge\na 1\na 2\n# EOF\n",       // twice
        "# TYPE a gauge\na{r=x} 1\n# EOF\n",       // unquoted label
        "# TYPE a gauge\na one\n# EOF\n",          // value
        "# TYPE a gauge\n# TYPE a gauge\n# EOF\n", // declared twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n# EOF\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\nh_sum 0\n# EOF\n",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn process_metrics_describe_the_running_server() {
    let dir = charm_files("http://127.0.0.1:9");
    let before = unix_now();
    let server = Server::start(&dir.path().join("oathkeeper.yaml"));
    let m = scrape(&server);
    let value = |name: &str| {
        m.value(name, &[])
            .unwrap_or_else(|| panic!("no {name} in {:?}", m.types.keys()))
    };
    // Start time has a clock tick's resolution and the boot time a second's.
    let start = value("process_start_time_seconds");
    assert!(
        (before - 2.0..=unix_now() + 1.0).contains(&start),
        "start {start}, spawned at {before}"
    );
    assert_eq!(m.types["process_start_time_seconds"], "gauge");
    assert_eq!(m.types["process_cpu_seconds"], "counter");
    assert!(value("process_cpu_seconds_total") >= 0.0);
    let rss = value("process_resident_memory_bytes");
    assert!(rss > 1_000_000.0, "rss {rss}");
    assert!(value("process_virtual_memory_bytes") >= rss);
    let open = value("process_open_fds");
    // At least stdin, stdout, stderr, two listeners and the scrape's connection.
    assert!(open >= 6.0, "open fds {open}");
    assert!(value("process_max_fds") >= open);
}

#[tokio::test(flavor = "multi_thread")]
async fn decision_duration_counts_each_decision_by_result() {
    let kratos = kratos_knowing_ann().await;
    let dir = charm_files(&kratos.url());
    tokio::task::spawn_blocking(move || {
        let s = Server::start(&dir.path().join("oathkeeper.yaml"));
        let start = scrape(&s);
        for result in ["allowed", "authentication", "no_rule", "malformed_request"] {
            assert_eq!(
                start.value(&n("decision_duration_seconds_count"), &[("result", result)]),
                Some(0.0),
                "{result} before any decision"
            );
        }
        assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
        let cookie = [("Cookie", "ory_kratos_session=good")];
        assert_eq!(s.decide("https://example.com/private", &cookie).status, 200);
        let api = [("Accept", "*/*")];
        assert_eq!(s.decide("https://example.com/private", &api).status, 401);
        assert_eq!(s.decide("https://other.example/x", &[]).status, 401);
        let twice = [("X-Forwarded-Host", "example.com")];
        assert_eq!(s.decide("https://example.com/welcome", &twice).status, 400);

        let m = scrape(&s);
        assert_eq!(m.types[&n("decision_duration_seconds")], "histogram");
        for (result, decisions) in [
            ("allowed", 2.0),
            ("authentication", 1.0),
            ("no_rule", 1.0),
            ("malformed_request", 1.0),
            ("authorization", 0.0),
        ] {
            let labels = [("result", result)];
            let count = m.value(&n("decision_duration_seconds_count"), &labels);
            assert_eq!(count, Some(decisions), "{result}");
            assert_eq!(
                m.value(&n("decisions_total"), &labels),
                Some(decisions),
                "{result}"
            );
            let inf = [("result", result), ("le", "+Inf")];
            assert_eq!(
                m.value(&n("decision_duration_seconds_bucket"), &inf),
                Some(decisions)
            );
            let sum = m
                .value(&n("decision_duration_seconds_sum"), &labels)
                .unwrap();
            // Each decision took some time, and none a second on loopback.
            assert!(
                (decisions == 0.0 && sum == 0.0) || (sum > 0.0 && sum < decisions),
                "{result}: sum {sum}"
            );
        }
        // Sub-millisecond buckets exist; both allowed decisions (one with a session-store call)
        // fit in a second on loopback.
        let allowed_within_a_second = m
            .value(
                &n("decision_duration_seconds_bucket"),
                &[("result", "allowed"), ("le", "1.0")],
            )
            .unwrap();
        assert_eq!(allowed_within_a_second, 2.0);
        assert!(
            m.value(
                &n("decision_duration_seconds_bucket"),
                &[("result", "allowed"), ("le", "0.0001")],
            )
            .is_some()
        );
        // The session store call of the cookie decision is measured too.
        assert_eq!(
            m.value(&n("session_store_requests_total"), &[("outcome", "ok")]),
            Some(1.0)
        );
        assert_eq!(
            m.value(&n("session_store_duration_seconds_count"), &[]),
            Some(1.0)
        );
    })
    .await
    .unwrap();
}

#[test]
fn source_health_is_there_from_the_start_and_the_reload_stamp_moves_only_when_all_serve() {
    let dir = charm_files("http://127.0.0.1:9");
    let s = Server::start(&dir.path().join("oathkeeper.yaml"));
    let stamp = n("last_reload_success_timestamp_seconds");
    let first = scrape(&s).value(&stamp, &[]).unwrap();
    assert!((unix_now() - 30.0..=unix_now()).contains(&first), "{first}");

    let file = dir
        .path()
        .join("access-rules/access-rules-requirer-allow.json");
    let source = format!("file://{}", file.display());
    let good = std::fs::read_to_string(&file).unwrap();
    let stale = |m: &Exposition| m.value(&n("source_stale"), &[("source", &source)]);
    // Every source's series is there from the start at 0, so its first failure is an
    // `increase()` to Prometheus.
    let m = scrape(&s);
    assert_eq!(stale(&m), Some(0.0));
    let errors = |m: &Exposition| m.value(&n("reload_errors_total"), &[("source", &source)]);
    assert_eq!(errors(&m), Some(0.0));
    std::fs::write(&file, "[{ not json").unwrap();
    assert!(
        eventually(Duration::from_secs(10), || stale(&scrape(&s)) == Some(1.0)),
        "the broken file is not reported stale"
    );
    let m = scrape(&s);
    assert_eq!(
        m.value(&stamp, &[]),
        Some(first),
        "a failed reload moved it"
    );
    // Once or more: a reload may also have read the file half written.
    assert!(errors(&m) >= Some(1.0), "{:?}", errors(&m));

    std::fs::write(&file, good).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || stale(&scrape(&s)) == Some(0.0)),
        "the repaired file is still stale"
    );
    let again = scrape(&s).value(&stamp, &[]).unwrap();
    assert!(again > first && again <= unix_now(), "{first} then {again}");
}

#[test]
fn the_names_the_charm_queries_are_exposed() {
    // The families the charm's alert rules and dashboard query (issue 19), under its prefix.
    let dir = charm_files("http://127.0.0.1:9");
    let s = Server::start(&dir.path().join("oathkeeper.yaml"));
    s.decide("https://example.com/welcome", &[]);
    let m = scrape(&s);
    let families = [
        "decisions",
        "decision_duration_seconds",
        "session_store_requests",
        "session_store_duration_seconds",
        "session_cache_lookups",
        "reload_errors",
        "source_stale",
        "last_reload_success_timestamp_seconds",
        "rules_loaded",
        "requests",
    ]
    .map(n);
    for family in families
        .iter()
        .map(String::as_str)
        .chain(["process_start_time_seconds"])
    {
        assert!(m.types.contains_key(family), "no {family}");
    }
}
