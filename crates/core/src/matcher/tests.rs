use super::*;

fn re(pattern: &str) -> UrlMatcher {
    UrlMatcher::compile(pattern, Strategy::Regexp).unwrap()
}

fn glob(pattern: &str) -> UrlMatcher {
    UrlMatcher::compile(pattern, Strategy::Glob).unwrap()
}

fn captures(m: &UrlMatcher, url: &str) -> Vec<String> {
    let mut groups = Vec::new();
    m.captures_into(url, Strategy::Regexp, &mut groups).unwrap();
    groups
}

#[test]
fn delimiters_nest_and_must_balance() {
    assert_eq!(
        split_sections("a<b<c>d>e").unwrap(),
        vec![
            Segment::Literal("a"),
            Segment::Section("b<c>d"),
            Segment::Literal("e")
        ]
    );
    assert_eq!(split_sections("<>").unwrap(), vec![Segment::Section("")]);
    assert_eq!(
        split_sections("foo.bar<<>>").unwrap(),
        vec![Segment::Literal("foo.bar"), Segment::Section("<>")]
    );
    for bad in ["<", ">", "><>", "<<>", "a<b"] {
        assert!(
            matches!(split_sections(bad), Err(PatternError::Unbalanced { .. })),
            "{bad} should be unbalanced"
        );
    }
}

#[test]
fn text_outside_sections_is_literal() {
    let m = re("http://example.com/a.b?c");
    assert!(m.is_match("http://example.com/a.b?c").unwrap());
    assert!(!m.is_match("http://example.com/aXb?c").unwrap());
    assert!(!m.is_match("http://example.com/a.").unwrap());
}

#[test]
fn whole_pattern_is_anchored() {
    let m = re("http://example.com/<[0-9]+>");
    assert!(m.is_match("http://example.com/123").unwrap());
    assert!(!m.is_match("http://example.com/123/x").unwrap());
    assert!(!m.is_match("xhttp://example.com/123").unwrap());
}

#[test]
fn each_section_is_a_capture_group() {
    let m = re("<https|http>://mydomain.com/<.*>");
    assert_eq!(captures(&m, "http://mydomain.com/foo"), ["http", "foo"]);
}

#[test]
fn inner_groups_add_groups_as_upstream() {
    let m = re("http://x/<(a|b)>");
    assert_eq!(captures(&m, "http://x/a"), ["a", "a"]);
}

#[test]
fn posix_classes_work() {
    let m = re("https://localhost/users/<[[:digit:]]*>");
    assert!(m.is_match("https://localhost/users/1234").unwrap());
    assert!(!m.is_match("https://localhost/users/abc").unwrap());
}

#[test]
fn negative_lookahead_works_on_the_backtracking_engine() {
    let m = re("http://mydomain.com/<(?!protected).*>");
    assert!(!m.is_linear());
    assert!(m.is_match("http://mydomain.com/public").unwrap());
    assert!(!m.is_match("http://mydomain.com/protected").unwrap());
    assert!(!m.is_match("http://mydomain.com/protected/x").unwrap());
}

#[test]
fn ports_are_part_of_the_url() {
    let m = re("https://localhost:1234/<.*>");
    assert!(m.is_match("https://localhost:1234/x").unwrap());
    assert!(!m.is_match("https://localhost/x").unwrap());
}

#[test]
fn charm_deny_rule_excludes_allowed_endpoints() {
    // spec/charm-parity.md §6.4
    let m = re("<^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$)).*>");
    for url in [
        "https://example.com",
        "https://example.com/",
        "http://example.com/private",
        "https://example.com/welcomeX",
        "https://example.com/about",
    ] {
        assert!(
            m.is_match(url).unwrap(),
            "{url} should be denied by the deny rule"
        );
    }
    for url in [
        "https://example.com/welcome",
        "https://example.com/welcome/x",
        "http://example.com/about/app",
        "https://example.com/about/app/more",
    ] {
        assert!(!m.is_match(url).unwrap(), "{url} is an allowed endpoint");
    }
}

#[test]
fn charm_allow_rule_matches_endpoint_and_below() {
    let m = re("<^(https|http)>://example.com/<welcome((/.*$)|$)>");
    assert!(m.is_linear());
    assert!(m.is_match("https://example.com/welcome").unwrap());
    assert!(m.is_match("http://example.com/welcome/a/b").unwrap());
    assert!(!m.is_match("https://example.com/welcomes").unwrap());
    assert!(!m.is_match("ftp://example.com/welcome").unwrap());
}

#[test]
fn bad_regex_is_an_error_naming_the_pattern() {
    let err = UrlMatcher::compile("http://x/<(>", Strategy::Regexp).unwrap_err();
    assert!(err.to_string().contains("http://x/<(>"), "{err}");
}

#[test]
fn catastrophic_backtracking_is_bounded() {
    let m = re("http://x/<((?=a)a|a)*b>");
    let url = format!("http://x/{}", "a".repeat(64));
    assert!(matches!(
        m.is_match(&url),
        Err(MatchError::BacktrackLimit { .. })
    ));
}

#[test]
fn glob_star_crosses_neither_slash_nor_dot() {
    let m = glob("http://example.com/<*>");
    assert!(m.is_match("http://example.com/foo").unwrap());
    assert!(!m.is_match("http://example.com/foo/bar").unwrap());
    assert!(!m.is_match("http://example.com/file.txt").unwrap());
    let m = glob("http://example.com/<**>");
    assert!(m.is_match("http://example.com/foo/bar.txt").unwrap());
}

#[test]
fn glob_syntax_matches_upstream_cases() {
    let m = glob("http://x/<{foo*,bar*}>");
    assert!(m.is_match("http://x/foox").unwrap());
    assert!(m.is_match("http://x/bar").unwrap());
    assert!(!m.is_match("http://x/baz").unwrap());
    let m = glob("http://x/<m?n>");
    assert!(m.is_match("http://x/man").unwrap());
    assert!(!m.is_match("http://x/m/n").unwrap());
    let m = glob("http://x/<m[!a,o,u]n>");
    assert!(m.is_match("http://x/min").unwrap());
    assert!(!m.is_match("http://x/man").unwrap());
    assert!(!m.is_match("http://x/m,n").unwrap());
    let m = glob("http://x/<[a-c]>");
    assert!(m.is_match("http://x/b").unwrap());
    assert!(!m.is_match("http://x/d").unwrap());
}

#[test]
fn glob_literal_text_is_quoted() {
    let m = glob("http://x.com/a+b/<*>");
    assert!(m.is_match("http://x.com/a+b/c").unwrap());
    assert!(!m.is_match("http://xycom/a+b/c").unwrap());
}

#[test]
fn glob_has_no_capture_groups() {
    let m = glob("http://x/<*>");
    let mut groups = Vec::new();
    m.captures_into("http://x/a", Strategy::Glob, &mut groups)
        .unwrap();
    assert!(groups.is_empty());
}

#[test]
fn bad_globs_are_errors() {
    for bad in ["http://x/<[abc>", "http://x/<{a,b>", "http://x/<[]>"] {
        assert!(UrlMatcher::compile(bad, Strategy::Glob).is_err(), "{bad}");
    }
}

fn prefixes(m: &UrlMatcher) -> Vec<String> {
    m.prefixes()
        .iter()
        .map(|p| String::from_utf8(p.clone()).unwrap())
        .collect()
}

#[test]
fn prefixes_expand_finite_sections() {
    let m = re("<^(https|http)>://example.com<(?!/welcome).*>");
    assert_eq!(prefixes(&m), ["http://example.com", "https://example.com"]);
    let m = re("<^(https|http)>://example.com/<welcome((/.*$)|$)>");
    assert_eq!(
        prefixes(&m),
        ["http://example.com/", "https://example.com/"]
    );
    assert!(m.is_split());
    assert_eq!(
        m.source(),
        "^(welcome((/.*$)|$))$",
        "only the rest runs per request"
    );
}

#[test]
fn prefixes_stop_at_open_sections() {
    assert_eq!(prefixes(&re("http://x/<.*>/y")), ["http://x/"]);
    assert_eq!(prefixes(&re("<.*>/y")), [""]);
    assert_eq!(prefixes(&glob("http://x/<*>")), ["http://x/"]);
}

#[test]
fn rules_differing_in_literals_share_their_compiled_rest() {
    let mut compiler = Compiler::new(Strategy::Regexp);
    let a = compiler
        .compile("<^(https|http)>://a.example.com<(?!/welcome).*>", false)
        .unwrap();
    let b = compiler
        .compile("<^(https|http)>://b.example.com<(?!/welcome).*>", false)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&a.rest, &b.rest));
    assert!(a.is_match("https://a.example.com/x").unwrap());
    assert!(!a.is_match("https://b.example.com/x").unwrap());
    assert!(!a.is_match("https://a.example.com/welcome").unwrap());
}

#[test]
fn rests_that_look_back_are_matched_whole() {
    // `^` after the start can never hold; split off, it would.
    let m = re("http://x/<^a>");
    assert!(!m.is_split());
    assert!(!m.is_match("http://x/a").unwrap());
    // A word boundary looks at the prefix's last character.
    let m = re("http://x<\\Ba>");
    assert!(!m.is_split());
    assert!(m.is_match("http://xa").unwrap());
    // A backreference counts groups of the prefix.
    let m = re("<(a)>/<\\1>");
    assert!(!m.is_split());
    assert!(m.is_match("a/a").unwrap());
    assert!(!m.is_match("a/b").unwrap());
}

#[test]
fn captures_need_the_whole_pattern() {
    let mut compiler = Compiler::new(Strategy::Regexp);
    let without = compiler.compile("<https|http>://x/<.*>", false).unwrap();
    let mut groups = Vec::new();
    without
        .captures_into("http://x/a", Strategy::Regexp, &mut groups)
        .unwrap();
    assert!(groups.is_empty(), "not requested, not computed");
    let with = compiler.compile("<https|http>://x/<.*>", true).unwrap();
    with.captures_into("http://x/a", Strategy::Regexp, &mut groups)
        .unwrap();
    assert_eq!(groups, ["http", "a"]);
}
