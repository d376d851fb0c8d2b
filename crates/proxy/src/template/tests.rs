use std::borrow::Cow;

use http::HeaderMap;
use serde_json::json;

use super::{Data, ParseError, RenderError, Template, Value};

/// Stands in for Go's `url.URL`.
struct Url {
    scheme: String,
    host: String,
    path: String,
    raw_query: String,
}

impl Data for Url {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "Scheme" => Value::Str(Cow::Borrowed(&self.scheme)),
            "Host" => Value::Str(Cow::Borrowed(&self.host)),
            "Path" => Value::Str(Cow::Borrowed(&self.path)),
            "RawQuery" => Value::Str(Cow::Borrowed(&self.raw_query)),
            "String" => Value::Str(Cow::Owned(format!(
                "{}://{}{}?{}",
                self.scheme, self.host, self.path, self.raw_query
            ))),
            _ => Value::Missing,
        }
    }
}

struct MatchContext {
    groups: Vec<String>,
    url: Url,
    method: String,
    header: HeaderMap,
}

impl Data for MatchContext {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "RegexpCaptureGroups" => Value::Strings(&self.groups),
            "URL" => Value::Object(&self.url),
            "Method" => Value::Str(Cow::Borrowed(&self.method)),
            "Header" => Value::Header(&self.header),
            _ => Value::Missing,
        }
    }
}

/// Stands in for Oathkeeper's `AuthenticationSession`.
struct Session {
    subject: String,
    extra: serde_json::Value,
    header: HeaderMap,
    match_context: MatchContext,
}

impl Data for Session {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "Subject" => Value::Str(Cow::Borrowed(&self.subject)),
            "Extra" => Value::Json(&self.extra),
            "Header" => Value::Header(&self.header),
            "MatchContext" => Value::Object(&self.match_context),
            _ => Value::Missing,
        }
    }
}

fn session(subject: &str) -> Session {
    let mut header = HeaderMap::new();
    header.insert("x-foo", "bar".parse().unwrap());
    let mut mc_header = HeaderMap::new();
    mc_header.insert("x-foo", "bar".parse().unwrap());
    mc_header.append("x-multi", "one".parse().unwrap());
    mc_header.append("x-multi", "two".parse().unwrap());
    Session {
        subject: subject.to_owned(),
        extra: json!({
            "identity": {"id": "u1", "traits": {"email": "a@b.c", "name": "Ann"}},
            "scp": ["read", "write"],
            "n": 1,
            "big": 1_000_000,
            "half": 1.5,
            "t": true,
            "f": false,
            "nothing": null,
            "empty": "",
            "html": "<a href=\"x\">&</a>",
        }),
        header,
        match_context: MatchContext {
            groups: vec!["http".to_owned(), "foo".to_owned()],
            url: Url {
                scheme: "https".to_owned(),
                host: "example.com".to_owned(),
                path: "/api/users".to_owned(),
                raw_query: "a=1".to_owned(),
            },
            method: "GET".to_owned(),
            header: mc_header,
        },
    }
}

fn render_with(src: &str, data: &dyn Data) -> Result<String, RenderError> {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    let mut out = String::new();
    t.render(data, &mut out).map(|()| out)
}

fn render(src: &str) -> String {
    render_with(src, &session("u1")).unwrap_or_else(|e| panic!("render {src:?}: {e}"))
}

fn parse_err(src: &str) -> String {
    match Template::parse(src) {
        Ok(_) => panic!("{src:?} parsed but should not"),
        Err(e) => e.to_string(),
    }
}

fn render_err(src: &str) -> String {
    match render_with(src, &session("u1")) {
        Ok(out) => panic!("{src:?} rendered {out:?} but should fail"),
        Err(e) => e.to_string(),
    }
}

fn check_table(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        assert_eq!(render(src), *want, "template {src:?}");
    }
}

#[test]
fn oathkeeper_header_expressions_render_like_go() {
    check_table(&[
        ("{{ print .Subject }}", "u1"),
        ("{{ .Subject }}", "u1"),
        ("{{ print .Extra.identity.traits.email }}", "a@b.c"),
        ("{{ print .Extra.missing.deep }}", ""),
        ("{{ .Extra.missing }}", ""),
        (
            "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
            "http",
        ),
        (
            "{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}",
            "foo",
        ),
        ("{{ printIndex .MatchContext.RegexpCaptureGroups 5 }}", ""),
        ("{{ printIndex .MatchContext.RegexpCaptureGroups -1 }}", ""),
        ("{{ printIndex .Extra.scp 1 }}", "write"),
        ("{{ printIndex .Extra.missing 0 }}", ""),
        ("{{ .MatchContext.Header.Get \"x-foo\" }}", "bar"),
        ("{{ .MatchContext.Header.Get \"X-Foo\" }}", "bar"),
        ("{{ .MatchContext.Header.Get \"X-None\" }}", ""),
        ("{{ .MatchContext.Header.Values \"X-Multi\" }}", "[one two]"),
        ("{{ \"x-foo\" | .MatchContext.Header.Get }}", "bar"),
        ("{{ .MatchContext.URL.Path }}", "/api/users"),
        ("{{ .MatchContext.URL.Host }}", "example.com"),
        (
            "{{ .MatchContext.URL }}",
            "https://example.com/api/users?a=1",
        ),
        ("{{ .MatchContext.Method }}", "GET"),
        (
            "{{ printf \"%s-%s\" .Subject .MatchContext.Method }}",
            "u1-GET",
        ),
        ("{{ printf \"%+q\" .Extra.scp }}", "[\"read\" \"write\"]"),
        ("{{ if .Subject }}yes{{ else }}no{{ end }}", "yes"),
        ("{{ if eq .Subject \"u1\" }}match{{ end }}", "match"),
        (
            "{{ if eq .Subject \"u2\" }}match{{ else }}other{{ end }}",
            "other",
        ),
        (
            "{{ range $i, $s := .Extra.scp }}{{$i}}={{$s}};{{ end }}",
            "0=read;1=write;",
        ),
        ("{{ .Extra.n }}", "1"),
        (
            "{{ toJson .Extra.identity.traits }}",
            r#"{"email":"a@b.c","name":"Ann"}"#,
        ),
        ("{{ default \"anon\" .Subject }}", "u1"),
        ("{{ .Subject | upper }}", "U1"),
        ("a {{- \" x \" -}} b", "a x b"),
    ]);
}

#[test]
fn empty_subject_takes_else_branch_and_default() {
    let s = session("");
    assert_eq!(
        render_with("{{ if .Subject }}yes{{ else }}no{{ end }}", &s).unwrap(),
        "no"
    );
    assert_eq!(
        render_with("{{ default \"anon\" .Subject }}", &s).unwrap(),
        "anon"
    );
    assert_eq!(
        render_with("{{ .Subject | default \"anon\" }}", &s).unwrap(),
        "anon"
    );
}

#[test]
fn text_trim_markers_and_comments() {
    check_table(&[
        ("plain text", "plain text"),
        ("a  {{- .Subject -}}  b", "au1b"),
        ("a  {{- .Subject }}  b", "au1  b"),
        ("a\n\t{{- /* c */ -}}\n b", "ab"),
        ("a{{/* a comment */}}b", "ab"),
        ("{{-3}}", "-3"),
        ("{{ 3 -}} x", "3x"),
        ("{{\n.Subject\n}}", "u1"),
    ]);
}

#[test]
fn literals_print_like_go() {
    check_table(&[
        (
            "{{ \"a\\tb\\n\\\"q\\\" \\u00e9 \\x41\" }}",
            "a\tb\n\"q\" é A",
        ),
        ("{{ `raw \\n` }}", "raw \\n"),
        ("{{ 42 }}", "42"),
        ("{{ -7 }}", "-7"),
        ("{{ 0x1F }}", "31"),
        ("{{ 1_000 }}", "1000"),
        ("{{ 1.5 }}", "1.5"),
        ("{{ 1e3 }}", "1000"),
        ("{{ 'a' }}", "97"),
        ("{{ true }}", "true"),
        ("{{ print nil }}", ""),
        ("{{ . | print | len }}", "2"),
    ]);
}

#[test]
fn json_values_print_like_go_float64_and_maps() {
    check_table(&[
        ("{{ .Extra.big }}", "1e+06"),
        ("{{ .Extra.half }}", "1.5"),
        ("{{ .Extra.t }}", "true"),
        ("{{ .Extra.nothing }}", ""),
        ("{{ .Extra.scp }}", "[read write]"),
        ("{{ .Extra.identity.traits }}", "map[email:a@b.c name:Ann]"),
        (
            "{{ print .Extra.identity }}",
            "map[id:u1 traits:map[email:a@b.c name:Ann]]",
        ),
        ("{{ .MatchContext.RegexpCaptureGroups }}", "[http foo]"),
        ("{{ .Header }}", "map[X-Foo:[bar]]"),
        ("{{ 123456.0 }}", "123456"),
        ("{{ 0.0001 }}", "0.0001"),
        ("{{ 0.00001 }}", "1e-05"),
        ("{{ 1234567.0 }}", "1.234567e+06"),
    ]);
}

#[test]
fn variables_and_scopes() {
    check_table(&[
        ("{{ $x := .Subject }}{{ $x }}", "u1"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ $.Subject }}", "u1"),
        (
            "{{ with .Extra.identity }}{{ .id }}/{{ $.Subject }}{{ end }}",
            "u1/u1",
        ),
        (
            "{{ with $t := .Extra.identity.traits }}{{ $t.name }}{{ end }}",
            "Ann",
        ),
        (
            "{{ with .Extra.missing }}yes{{ else }}none{{ end }}",
            "none",
        ),
        (
            "{{ with .Extra.missing }}a{{ else with .Subject }}{{ . }}{{ end }}",
            "u1",
        ),
        ("{{ if $v := .Extra.n }}{{ $v }}{{ end }}", "1"),
        (
            "{{ $x := 0 }}{{ range .Extra.scp }}{{ $x = . }}{{ end }}{{ $x }}",
            "write",
        ),
        ("{{ $m := .MatchContext }}{{ $m.URL.Scheme }}", "https"),
    ]);
}

#[test]
fn control_flow_if_else_if_range() {
    check_table(&[
        (
            "{{ if .Extra.f }}a{{ else if .Extra.t }}b{{ else }}c{{ end }}",
            "b",
        ),
        (
            "{{ if .Extra.f }}a{{ else if .Extra.empty }}b{{ else }}c{{ end }}",
            "c",
        ),
        ("{{ range .Extra.scp }}[{{ . }}]{{ end }}", "[read][write]"),
        (
            "{{ range $v := .Extra.scp }}{{ $v }},{{ end }}",
            "read,write,",
        ),
        (
            "{{ range $k, $v := .Extra.identity.traits }}{{ $k }}={{ $v }};{{ end }}",
            "email=a@b.c;name=Ann;",
        ),
        (
            "{{ range .Extra.missing }}x{{ else }}empty{{ end }}",
            "empty",
        ),
        (
            "{{ range .Extra.scp }}{{ if eq . \"read\" }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            "write",
        ),
        ("{{ range .Extra.scp }}{{ . }}{{ break }}{{ end }}", "read"),
        (
            "{{ range .Extra.scp }}{{ with . }}{{ . }}{{ break }}{{ end }}{{ end }}",
            "read",
        ),
        (
            "{{ range $i, $g := .MatchContext.RegexpCaptureGroups }}{{ $i }}{{ $g }}{{ end }}",
            "0http1foo",
        ),
        ("{{ range list 1 2 3 }}{{ . }}{{ end }}", "123"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
    ]);
}

#[test]
fn truthiness_follows_go() {
    check_table(&[
        ("{{ if 0 }}t{{ else }}f{{ end }}", "f"),
        ("{{ if 0.0 }}t{{ else }}f{{ end }}", "f"),
        ("{{ if \"\" }}t{{ else }}f{{ end }}", "f"),
        ("{{ if .Extra.nothing }}t{{ else }}f{{ end }}", "f"),
        ("{{ if .Extra.scp }}t{{ else }}f{{ end }}", "t"),
        ("{{ if list }}t{{ else }}f{{ end }}", "f"),
        ("{{ if .MatchContext }}t{{ else }}f{{ end }}", "t"),
    ]);
}

#[test]
fn logic_and_comparison_builtins() {
    check_table(&[
        ("{{ and 1 0 2 }}", "0"),
        ("{{ and 1 2 }}", "2"),
        ("{{ or 0 \"\" \"x\" }}", "x"),
        ("{{ or 0 \"\" }}", ""),
        // Short-circuit: the failing call is never evaluated.
        ("{{ or .Subject (index .Extra.missing 1) }}", "u1"),
        ("{{ and .Extra.missing (index .Extra.missing 1) }}", ""),
        ("{{ not .Subject }}", "false"),
        ("{{ eq .Subject \"x\" \"u1\" }}", "true"),
        ("{{ ne .Subject \"u1\" }}", "false"),
        ("{{ eq .Extra.n 1 }}", "true"),
        ("{{ eq .Extra.missing \"x\" }}", "false"),
        ("{{ eq .Extra.missing nil }}", "true"),
        ("{{ lt 1 2 }}", "true"),
        ("{{ le 2 2 }}", "true"),
        ("{{ gt \"b\" \"a\" }}", "true"),
        ("{{ ge 1.5 2 }}", "false"),
        ("{{ len .Extra.scp }}", "2"),
        ("{{ len .Subject }}", "2"),
        ("{{ len .Extra.identity }}", "2"),
        ("{{ index .Extra.scp 1 }}", "write"),
        ("{{ index .Extra \"identity\" \"traits\" \"name\" }}", "Ann"),
        ("{{ index .Extra \"nope\" }}", ""),
        ("{{ index .MatchContext.RegexpCaptureGroups 0 }}", "http"),
        ("{{ index .MatchContext.Header \"X-Multi\" }}", "[one two]"),
        ("{{ slice .Subject 1 }}", "1"),
        ("{{ slice .Extra.scp 0 1 }}", "[read]"),
    ]);
}

#[test]
fn printing_builtins() {
    check_table(&[
        ("{{ print \"a\" \"b\" }}", "ab"),
        ("{{ print 1 2 }}", "1 2"),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        (
            "{{ printf \"%d|%5d|%-3d|%03d|%x|%X|%o\" 42 42 42 -4 255 255 8 }}",
            "42|   42|42 |-04|ff|FF|10",
        ),
        (
            "{{ printf \"%v %t %q %%\" .Extra.n true \"hi\" }}",
            "1 true \"hi\" %",
        ),
        ("{{ printf \"%s %s\" .Subject }}", "u1 %!s(MISSING)"),
        (
            "{{ printf \"%s\" .Subject .Extra.n }}",
            "u1%!(EXTRA float64=1)",
        ),
        ("{{ printf \"%d\" \"x\" }}", "%!d(string=x)"),
        ("{{ printf \"%s\" 5 }}", "%!s(int=5)"),
        ("{{ printf \"%s\" .Extra.missing }}", "%!s(<nil>)"),
        ("{{ printf \"%v\" .Extra.missing }}", "<nil>"),
        (
            "{{ printf \"%.2f %e\" 3.14159 1234.5 }}",
            "3.14 1.234500e+03",
        ),
        ("{{ printf \"%x\" \"hi\" }}", "6869"),
        ("{{ printf \"%q\" \"é\\n\" }}", "\"é\\n\""),
        ("{{ printf \"%+q\" \"é\" }}", "\"\\u00e9\""),
        ("{{ printf \"%6.2s|\" \"abc\" }}", "    ab|"),
        ("{{ .Subject | printf \"<%s>\" }}", "<u1>"),
        (
            "{{ printf \"%5.1f|%-6s|%+d|%e\" 3.14159 \"ab\" 5 0.0 }}",
            "  3.1|ab    |+5|0.000000e+00",
        ),
        (
            "{{ printf \"%v\" .Extra.identity }}",
            "map[id:u1 traits:map[email:a@b.c name:Ann]]",
        ),
        ("{{ urlquery \"a b&c=d/é\" }}", "a+b%26c%3Dd%2F%C3%A9"),
        (
            "{{ html .Extra.html }}",
            "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;",
        ),
        ("{{ js \"it's <b>\\n\" }}", "it\\'s \\u003Cb\\u003E\\u000A"),
    ]);
}

#[test]
fn sprig_functions() {
    check_table(&[
        ("{{ default \"anon\" .Extra.missing }}", "anon"),
        ("{{ empty .Extra.empty }}", "true"),
        ("{{ empty .Subject }}", "false"),
        ("{{ coalesce .Extra.missing .Extra.empty .Subject }}", "u1"),
        ("{{ toJson .Extra.scp }}", r#"["read","write"]"#),
        ("{{ toJson .Subject }}", r#""u1""#),
        (
            "{{ toJson .Extra.html }}",
            r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#,
        ),
        ("{{ toJson .Extra.big }}", "1000000"),
        ("{{ toJson .Extra.missing }}", "null"),
        (
            "{{ toJson .MatchContext.RegexpCaptureGroups }}",
            r#"["http","foo"]"#,
        ),
        ("{{ toJson (list 1 \"a\" true) }}", r#"[1,"a",true]"#),
        ("{{ toString .Extra.n }}", "1"),
        ("{{ toString .Extra.missing }}", "<nil>"),
        ("{{ lower \"ÀB\" }}", "àb"),
        ("{{ title \"hello wide-world\" }}", "Hello Wide-World"),
        ("{{ trim \"  x y \\n\" }}", "x y"),
        ("{{ trimPrefix \"a-\" \"a-b\" }}", "b"),
        ("{{ trimSuffix \"-b\" \"a-b\" }}", "a"),
        ("{{ trimAll \"$\" \"$5.00$\" }}", "5.00"),
        (
            "{{ contains \"b.c\" .Extra.identity.traits.email }}",
            "true",
        ),
        (
            "{{ hasPrefix \"a@\" .Extra.identity.traits.email }}",
            "true",
        ),
        (
            "{{ hasSuffix \".d\" .Extra.identity.traits.email }}",
            "false",
        ),
        (
            "{{ replace \".\" \"_\" .Extra.identity.traits.email }}",
            "a@b_c",
        ),
        ("{{ join \",\" .Extra.scp }}", "read,write"),
        (
            "{{ join \"-\" .MatchContext.RegexpCaptureGroups }}",
            "http-foo",
        ),
        ("{{ quote .Subject \"a\\\"b\" }}", r#""u1" "a\"b""#),
        ("{{ squote .Subject }}", "'u1'"),
        ("{{ b64enc .Subject }}", "dTE="),
        ("{{ b64dec \"dTE=\" }}", "u1"),
        ("{{ b64dec \"!!\" }}", "illegal base64 data at input byte 0"),
        ("{{ list 1 \"a\" }}", "[1 a]"),
        ("{{ first .Extra.scp }}", "read"),
        ("{{ last .Extra.scp }}", "write"),
        ("{{ first list }}", ""),
        ("{{ ternary \"y\" \"n\" true }}", "y"),
        ("{{ .Extra.f | ternary \"y\" \"n\" }}", "n"),
        ("{{ repeat 3 \"ab\" }}", "ababab"),
        ("{{ substr 0 2 \"hello\" }}", "he"),
        ("{{ substr 2 99 \"hello\" }}", "llo"),
        ("{{ substr -1 3 \"hello\" }}", "hel"),
        ("{{ nospace \" a b\\tc \" }}", "abc"),
        ("{{ cat \"a\" 1 .Extra.missing \"b\" }}", "a 1 b"),
        ("{{ .Subject | upper | printf \"%s!\" }}", "U1!"),
        ("{{ (print .Subject \"x\") | upper }}", "U1X"),
    ]);
}

#[test]
fn parse_errors_are_clear() {
    let cases: &[(&str, &str)] = &[
        ("{{ .Subject ", "unclosed action starting at 1:1"),
        (
            "ab{{ nope .Subject }}",
            "function \"nope\" not defined at 1:6",
        ),
        ("{{ end }}", "unexpected {{end}} at 1:1"),
        ("{{ else }}", "unexpected {{else}} at 1:1"),
        ("{{ \"abc }}", "unterminated quoted string at 1:4"),
        ("{{ \"a\\qb\" }}", "invalid escape sequence \\q at 1:6"),
        (
            "{{ if .Subject }}x",
            "{{if}} at 1:1 has no matching {{end}}",
        ),
        (
            "{{ range .X }}{{ else }}{{ else }}{{ end }}",
            "unexpected {{else}} at 1:25, expected {{end}}",
        ),
        ("{{ }}", "unexpected \"}}\" at 1:4, expected a command"),
        ("{{ $x }}", "undefined variable \"$x\" at 1:4"),
        (
            "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
            "undefined variable \"$x\"",
        ),
        ("{{ break }}", "unexpected {{break}} at 1:1"),
        ("{{ 12a }}", "bad number syntax: \"12a\" at 1:4"),
        ("{{ .A # }}", "unrecognized character in action: '#' at 1:7"),
        (
            "{{ .A | \"x\" }}",
            "expected a function or method after \"|\"",
        ),
        ("{{ \"x\" 1 }}", "unexpected arguments at 1:4"),
        ("{{ nil }}", "nil is not a command"),
        ("{{ /* open }}", "unclosed comment starting at 1:1"),
        ("{{ define \"x\" }}{{ end }}", "{{define}} is not supported"),
        ("{{ (.A }}", "expected \")\""),
        ("{{ print .A) }}", "unexpected \")\""),
    ];
    for (src, want) in cases {
        let got = parse_err(src);
        assert!(
            got.contains(want),
            "template {src:?}: got {got:?}, want it to contain {want:?}"
        );
    }
}

#[test]
fn parse_error_variants_carry_positions() {
    match Template::parse("x\n  {{ nope }}") {
        Err(ParseError::UnknownFunction { name, pos }) => {
            assert_eq!(name, "nope");
            assert_eq!((pos.line, pos.col, pos.offset), (2, 6, 7));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn render_errors_are_reported() {
    let cases: &[(&str, &str)] = &[
        (
            "{{ upper 1 }}",
            "wrong type for value in upper; expected string; got int",
        ),
        ("{{ upper .Extra.missing }}", "expected string; got <nil>"),
        (
            "{{ upper \"a\" \"b\" }}",
            "wrong number of args for upper: want 1 got 2",
        ),
        (
            "{{ printf }}",
            "wrong number of args for printf: want at least 1 got 0",
        ),
        (
            "{{ .Subject.Foo }}",
            "can't evaluate field Foo in type string",
        ),
        (
            "{{ .MatchContext.URL.Path \"x\" }}",
            "Path is not a method but has arguments",
        ),
        (
            "{{ .MatchContext.URL.Nope \"x\" }}",
            "Nope is not a method but has arguments",
        ),
        (
            "{{ .MatchContext.Header.Get }}",
            "wrong number of args for Get: want 1 got 0",
        ),
        ("{{ index .Extra.scp 5 }}", "index out of range: 5"),
        ("{{ index .Extra.missing 0 }}", "index of untyped nil"),
        ("{{ eq .Subject 1 }}", "incompatible types for comparison"),
        ("{{ lt .Extra.missing 1 }}", "invalid type for comparison"),
        (
            "{{ range .Subject }}{{ end }}",
            "range can't iterate over string",
        ),
        ("{{ first .Subject }}", "cannot find first on type string"),
        ("{{ repeat 99999999 \"ab\" }}", "result longer than"),
        ("{{ len 3 }}", "len of type int"),
    ];
    for (src, want) in cases {
        let got = render_err(src);
        assert!(
            got.contains(want),
            "template {src:?}: got {got:?}, want it to contain {want:?}"
        );
    }
}

/// Found by the template fuzzer: `js` piped into `js` doubles the backslashes each time, so a
/// short template grew its output exponentially and rendered for minutes. Every string a step
/// builds, and the output, are bounded.
#[test]
fn exponential_growth_stops_at_the_render_limit() {
    let doubling = format!("{{{{ print \"\\\"\" {} }}}}", "| js ".repeat(30));
    assert_eq!(render_err(&doubling), RenderError::TooLarge.to_string());
    let looping = "{{ range $i, $_ := .Extra.scp }}{{ repeat 1000000 \"a\" }}{{ end }}";
    assert_eq!(render_err(looping), RenderError::TooLarge.to_string());
    assert_eq!(render("{{ print \"<\" | js | js }}"), "\\\\u003C");
}

#[test]
fn render_appends_and_reuses_buffer() {
    let t = Template::parse("{{ print .Subject }}").unwrap();
    let data = session("u1");
    let mut out = String::with_capacity(16);
    t.render(&data, &mut out).unwrap();
    t.render(&data, &mut out).unwrap();
    assert_eq!(out, "u1u1");
    out.clear();
    t.render(&data, &mut out).unwrap();
    assert_eq!(out, "u1");
    assert_eq!(t.source(), "{{ print .Subject }}");
}

#[test]
fn json_map_is_data() {
    let serde_json::Value::Object(map) = json!({"Subject": "s", "Extra": {"a": [1, 2]}}) else {
        unreachable!()
    };
    assert_eq!(
        render_with("{{ .Subject }}:{{ index .Extra.a 1 }}", &map).unwrap(),
        "s:2"
    );
    assert_eq!(render_with("{{ .Nope }}", &map).unwrap(), "");
}

#[test]
fn template_is_send_sync_clone_debug() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<Template>();
}

#[test]
fn arbitrary_input_never_panics() {
    // Every prefix of tricky sources must parse or fail cleanly, and render
    // or fail cleanly.
    let sources = [
        "{{ if .Subject }}{{ range $i, $v := .Extra.scp }}{{ $i }}{{ end }}{{ else }}x{{ end }}",
        "{{- /* c */ -}}{{ printf \"%-*d|%.*s\" 4 7 2 \"abcdef\" }}",
        "{{ with $x := index .Extra \"identity\" }}{{ $x.traits | toJson }}{{ end }}",
        "{{ 'é' }}{{ \"\\U0001F600\" }}{{ `a\r\nb` }}{{ (((1))) }}",
        "{{ printf \"%\" }}{{ printf \"%!\" 1 }}{{ printf \"%5.\" }}",
    ];
    let data = session("u1");
    for src in sources {
        for end in (0..=src.len()).filter(|i| src.is_char_boundary(*i)) {
            if let Ok(t) = Template::parse(&src[..end]) {
                let mut out = String::new();
                let _ = t.render(&data, &mut out);
            }
        }
    }
    let deep = "{{ ".to_owned() + &"(".repeat(500) + "1" + &")".repeat(500) + " }}";
    assert!(matches!(
        Template::parse(&deep),
        Err(ParseError::TooDeep { .. })
    ));
}
