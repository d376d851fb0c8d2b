use super::*;

fn topology() -> Topology {
    crate::testing::topology(0)
}

fn m() -> Vec<(String, String)> {
    vec![
        ("juju_model".into(), "iam".into()),
        ("juju_application".into(), "oathkeeper".into()),
    ]
}

const M: &str = r#"juju_model="iam",juju_application="oathkeeper""#;

#[test]
fn promql_injection_reaches_every_selector_and_nothing_else() {
    let cases = [
        ("sum(up) == 0", format!("sum(up{{{M}}}) == 0")),
        (
            "changes(process_start_time_seconds[15m]) > 5",
            format!("changes(process_start_time_seconds{{{M}}}[15m]) > 5"),
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5",
            format!("histogram_quantile(0.99, sum by (le) (rate(x_bucket{{{M}}}[5m]))) > 0.5"),
        ),
        (
            r#"sum(rate(d{result!="allowed"}[1h] offset 5m)) and on() vector(1)"#,
            format!(r#"sum(rate(d{{result!="allowed",{M}}}[1h] offset 5m)) and on() vector(1)"#),
        ),
        (
            r#"sum by (outcome) (rate(s{outcome!="ok"}[5m])) / ignoring (outcome) group_left sum(rate(s[5m]))"#,
            format!(
                r#"sum by (outcome) (rate(s{{outcome!="ok",{M}}}[5m])) / ignoring (outcome) group_left sum(rate(s{{{M}}}[5m]))"#
            ),
        ),
        (
            r#"max without(source) (x{}) > bool 1"#,
            format!(r#"max without(source) (x{{{M}}}) > bool 1"#),
        ),
        (
            r#"{__name__="up", a="}"}"#,
            format!(r#"{{__name__="up", a="}}",{M}}}"#),
        ),
        ("1e3 > Inf", "1e3 > Inf".to_owned()),
    ];
    for (expr, want) in cases {
        assert_eq!(inject_promql(expr, &m()), want, "{expr}");
    }
}

#[test]
fn promql_selectors_name_the_metrics() {
    let expr = "sum(rate(a_total{x=\"y\"}[5m])) / count(up) + on(le) group_left(z) b";
    let names: Vec<&str> = promql_selectors(expr)
        .into_iter()
        .filter_map(|s| s.name.map(|r| &expr[r]))
        .collect();
    assert_eq!(names, ["a_total", "up", "b"]);
}

#[test]
fn logql_injection_goes_into_stream_selectors_only() {
    let expr = r#"count_over_time({job=~".+"} | json | line_format "{{.level}}" [5m])"#;
    assert_eq!(
        inject_logql(expr, &m()),
        format!(r#"count_over_time({{job=~".+",{M}}} | json | line_format "{{{{.level}}}}" [5m])"#)
    );
}

#[test]
fn the_placeholder_and_its_comma_go() {
    assert_eq!(
        strip_placeholder("{%%juju_topology%%,a=\"b\"}", ""),
        "{a=\"b\"}"
    );
    assert_eq!(
        strip_placeholder("{%%juju_topology%%}", r#"job=~".+""#),
        r#"{job=~".+"}"#
    );
}

#[test]
fn every_shipped_file_renders_with_topology() {
    for (files, language) in [
        (PROMETHEUS_RULES, Language::PromQl),
        (LOKI_RULES, Language::LogQl),
    ] {
        for file in files {
            let groups = render_file(file, language, &topology()).unwrap();
            assert!(!groups.is_empty(), "{}", file.name);
            for group in groups {
                let name = group["name"].as_str().unwrap();
                assert!(
                    name.starts_with("iam_0b4a7c1e_oathkeeper_") && name.ends_with("_alerts"),
                    "{name}"
                );
                for rule in group["rules"].as_array().unwrap() {
                    let labels = &rule["labels"];
                    assert_eq!(labels["juju_model"], "iam");
                    assert_eq!(labels["juju_model_uuid"], topology().model_uuid);
                    assert_eq!(labels["juju_application"], "oathkeeper");
                    assert_eq!(labels["juju_charm"], "oathkeeper");
                    assert!(labels["severity"].is_string(), "{rule}");
                    let expr = rule["expr"].as_str().unwrap();
                    assert!(!expr.contains(TOPOLOGY_PLACEHOLDER), "{expr}");
                    assert!(
                        expr.contains(r#"juju_model_uuid="0b4a7c1e-0000-4000-8000-000000000000""#),
                        "{expr}"
                    );
                    assert!(rule["annotations"]["summary"].is_string(), "{rule}");
                }
            }
        }
    }
}

#[test]
fn a_single_rule_file_becomes_a_group_named_after_it() {
    let file = RuleFile {
        name: "my-rule.rule",
        text: "alert: A\nexpr: up < 1\n",
    };
    let groups = render_file(&file, Language::PromQl, &topology()).unwrap();
    assert_eq!(groups[0]["name"], "iam_0b4a7c1e_oathkeeper_my_rule_alerts");
    assert_eq!(
        groups[0]["rules"][0]["expr"],
        r#"up{juju_model="iam",juju_model_uuid="0b4a7c1e-0000-4000-8000-000000000000",juju_application="oathkeeper"} < 1"#
    );
    let bad = RuleFile {
        name: "bad.rule",
        text: "just: text\n",
    };
    assert!(render_file(&bad, Language::PromQl, &topology()).is_err());
}

#[test]
fn every_file_of_the_rule_directories_is_embedded() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for (dir, files) in [
        (PROMETHEUS_RULES_DIR, PROMETHEUS_RULES),
        (LOKI_RULES_DIR, LOKI_RULES),
    ] {
        let mut on_disk: Vec<String> = std::fs::read_dir(std::path::Path::new(root).join(dir))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                (name.ends_with(".rule") || name.ends_with(".rules")).then_some(name)
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<&str> = files.iter().map(|f| f.name).collect();
        embedded.sort_unstable();
        assert_eq!(on_disk, embedded, "{dir}");
    }
}
