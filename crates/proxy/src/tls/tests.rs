//! `serve.api.tls` validation (every error names the field and file) and the reloader's
//! keep-the-last-good rules, on certificates generated here.

use std::time::Duration;

use base64::Engine as _;
use oathkeeper_core::config::{Config, Tls, TlsSource, parse_config};

use super::*;

/// A certificate for `localhost` and its private key, both PEM.
struct Pair {
    cert: String,
    key: String,
}

fn pair() -> Pair {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    Pair {
        cert: generated.cert.pem(),
        key: generated.signing_key.serialize_pem(),
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn path(path: &Path) -> TlsSource {
    TlsSource {
        path: Some(path.display().to_string()),
        base64: None,
    }
}

fn inline(pem: &str) -> TlsSource {
    TlsSource {
        path: None,
        base64: Some(b64(pem)),
    }
}

fn tls(cert: TlsSource, key: TlsSource) -> Tls {
    Tls { cert, key }
}

/// Writes the pair into `dir` as `tls.crt` and `tls.key`; returns the setting naming them.
fn write(dir: &Path, pair: &Pair) -> Tls {
    std::fs::write(dir.join("tls.crt"), &pair.cert).unwrap();
    std::fs::write(dir.join("tls.key"), &pair.key).unwrap();
    tls(path(&dir.join("tls.crt")), path(&dir.join("tls.key")))
}

fn start_error(setting: &Tls) -> String {
    match Reloader::start(Some(setting)) {
        Ok(_) => panic!("{setting:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that starting with `setting` fails with a message that begins with `prefix`.
fn assert_start_error_starts_with(setting: &Tls, prefix: &str) {
    let message = start_error(setting);
    assert!(message.starts_with(prefix), "{message}");
}

/// A reloader whose clock runs an hour ahead, so files written just now count as settled.
fn settled(setting: Option<&Tls>) -> (Reloader, Option<Arc<ServerConfig>>) {
    let (mut reloader, config) = Reloader::start(setting).unwrap();
    reloader.now = || SystemTime::now() + Duration::from_secs(3600);
    // Trust the stamps taken at start, as a later look would.
    reloader.stamps = Some(reloader.stamps_now());
    (reloader, config)
}

#[test]
fn no_tls_or_no_key_set_is_plain_http_as_upstream() {
    assert!(Sources::from_config(None).unwrap().is_none());
    assert!(
        Sources::from_config(Some(&Tls::default()))
            .unwrap()
            .is_none()
    );
    let (_, config) = Reloader::start(Some(&Tls::default())).unwrap();
    assert!(config.is_none());
}

#[test]
fn a_certificate_without_a_key_names_the_missing_field() {
    let message = start_error(&tls(inline(&pair().cert), TlsSource::default()));
    assert_eq!(
        message,
        "serve.api.tls.key is not set but serve.api.tls.cert is: TLS needs both a certificate \
         and its private key (each a path or base64)"
    );
    assert_start_error_starts_with(
        &tls(TlsSource::default(), inline(&pair().key)),
        "serve.api.tls.cert is not set",
    );
}

#[test]
fn path_and_base64_together_is_an_error_naming_the_part() {
    let both = TlsSource {
        path: Some("/etc/tls/tls.key".to_owned()),
        base64: Some(b64(&pair().key)),
    };
    assert_eq!(
        start_error(&tls(inline(&pair().cert), both)),
        "serve.api.tls.key: both path and base64 are set; set one of them"
    );
}

#[test]
fn base64_that_is_not_base64_names_the_field() {
    let bad = TlsSource {
        path: None,
        base64: Some("not base64!".to_owned()),
    };
    assert_start_error_starts_with(
        &tls(bad, inline(&pair().key)),
        "serve.api.tls.cert.base64 is not valid base64: ",
    );
}

#[test]
fn a_missing_file_names_the_field_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let setting = write(dir.path(), &pair());
    std::fs::remove_file(dir.path().join("tls.key")).unwrap();
    let expected = format!(
        "serve.api.tls.key.path: cannot read TLS private key file {}",
        dir.path().join("tls.key").display()
    );
    assert_start_error_starts_with(&setting, &expected);
}

#[test]
fn pem_without_a_certificate_or_without_a_key_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = pair();
    // The key where the certificate should be, and the other way round.
    let swapped = Pair {
        cert: good.key.clone(),
        key: good.cert.clone(),
    };
    let setting = write(dir.path(), &swapped);
    let message = start_error(&setting);
    assert_eq!(
        message,
        format!(
            "serve.api.tls.cert.path ({}) holds no PEM certificate",
            dir.path().join("tls.crt").display()
        )
    );
    let setting = tls(inline(&good.cert), inline("just text\n"));
    assert_eq!(
        start_error(&setting),
        "serve.api.tls.key.base64 holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"
    );
}

#[test]
fn a_truncated_pem_is_not_valid_pem() {
    let good = pair();
    let half = &good.cert[..good.cert.len() / 2];
    assert_start_error_starts_with(
        &tls(inline(half), inline(&good.key)),
        "serve.api.tls.cert.base64 is not valid PEM: ",
    );
}

#[test]
fn a_key_that_is_not_the_certificates_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let setting = write(
        dir.path(),
        &Pair {
            cert: pair().cert,
            key: pair().key,
        },
    );
    assert_eq!(
        start_error(&setting),
        format!(
            "the private key (serve.api.tls.key.path ({})) does not match the certificate \
             (serve.api.tls.cert.path ({}))",
            dir.path().join("tls.key").display(),
            dir.path().join("tls.crt").display()
        )
    );
}

#[test]
fn a_good_pair_serves_http1_over_tls_with_resumption() {
    let dir = tempfile::tempdir().unwrap();
    for setting in [write(dir.path(), &pair()), {
        let p = pair();
        tls(inline(&p.cert), inline(&p.key))
    }] {
        let (_, config) = Reloader::start(Some(&setting)).unwrap();
        let config = config.expect("TLS on");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(config.ticketer.enabled());
        assert!(config.session_storage.can_cache());
    }
}

#[test]
fn base64_wrapped_at_76_columns_is_accepted() {
    let p = pair();
    let wrap = |text: &str| {
        b64(text)
            .as_bytes()
            .chunks(76)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let setting = tls(
        TlsSource {
            path: None,
            base64: Some(wrap(&p.cert)),
        },
        TlsSource {
            path: None,
            base64: Some(wrap(&p.key)),
        },
    );
    assert!(Reloader::start(Some(&setting)).unwrap().1.is_some());
}

#[test]
fn env_variables_set_the_pair_as_upstream_names_them() {
    let p = pair();
    let env: std::collections::HashMap<String, String> = [
        ("SERVE_API_TLS_CERT_BASE64", b64(&p.cert)),
        ("SERVE_API_TLS_KEY_BASE64", b64(&p.key)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config: Config = parse_config("", &env).unwrap();
    let (_, served) = Reloader::start(config.serve.api.tls.as_ref()).unwrap();
    assert!(served.is_some());
    let env: std::collections::HashMap<String, String> = [
        ("SERVE_API_TLS_CERT_PATH", "/etc/tls/tls.crt"),
        ("SERVE_API_TLS_KEY_PATH", "/etc/tls/tls.key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config: Config = parse_config("", &env).unwrap();
    let sources = Sources::from_config(config.serve.api.tls.as_ref())
        .unwrap()
        .unwrap();
    let files: Vec<&Path> = sources.files().collect();
    assert_eq!(
        files,
        [Path::new("/etc/tls/tls.crt"), Path::new("/etc/tls/tls.key")]
    );
}

#[test]
fn a_certificate_rotated_before_its_key_keeps_the_last_good_pair_until_the_key_follows() {
    let dir = tempfile::tempdir().unwrap();
    let first = pair();
    let setting = write(dir.path(), &first);
    let (mut reloader, config) = settled(Some(&setting));
    assert!(config.is_some());
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Unchanged
    ));

    let second = pair();
    std::fs::write(dir.path().join("tls.crt"), &second.cert).unwrap();
    match reloader.refresh(Some(&setting)) {
        Refresh::Failed(TlsError::Mismatch { .. }) => {}
        other => panic!("a half-rotated pair must fail as a mismatch: {other:?}"),
    }
    // Looked at again with nothing changed: the same failure is not reported twice.
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Unchanged
    ));

    std::fs::write(dir.path().join("tls.key"), &second.key).unwrap();
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Serve(Some(_))
    ));
}

#[test]
fn a_half_written_certificate_fails_and_the_completed_one_serves() {
    let dir = tempfile::tempdir().unwrap();
    let first = pair();
    let setting = write(dir.path(), &first);
    let (mut reloader, _) = settled(Some(&setting));
    std::fs::write(
        dir.path().join("tls.crt"),
        &first.cert[..first.cert.len() / 3],
    )
    .unwrap();
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Failed(TlsError::Pem { .. })
    ));
    std::fs::write(dir.path().join("tls.crt"), &first.cert).unwrap();
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Serve(Some(_))
    ));
}

#[test]
fn turning_tls_off_and_on_in_the_config_applies_to_the_next_look() {
    let p = pair();
    let setting = tls(inline(&p.cert), inline(&p.key));
    let (mut reloader, config) = settled(Some(&setting));
    assert!(config.is_some());
    assert!(matches!(reloader.refresh(None), Refresh::Serve(None)));
    assert!(matches!(reloader.refresh(None), Refresh::Unchanged));
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Serve(Some(_))
    ));
}

#[test]
fn recently_written_files_are_read_again_on_the_next_look() {
    let dir = tempfile::tempdir().unwrap();
    let setting = write(dir.path(), &pair());
    // The real clock: the files were written within the last second.
    let (mut reloader, _) = Reloader::start(Some(&setting)).unwrap();
    assert!(
        reloader.stamps.is_none(),
        "stamps of fresh files are not trusted"
    );
    // Same bytes: read again, and found unchanged.
    assert!(matches!(
        reloader.refresh(Some(&setting)),
        Refresh::Unchanged
    ));
}
