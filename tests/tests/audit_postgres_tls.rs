//! The PostgreSQL store over TLS and with its transaction settings pinned, against the local
//! server as `scripts/ci-postgres-tls.sh` configures it: TLS with a self-signed CA, and a
//! database `observa_tls` whose defaults are `default_transaction_isolation = 'repeatable read'`
//! and `synchronous_commit = off`. The URL comes from `OBSERVA_TEST_POSTGRES_TLS_URL`
//! (`...?sslmode=verify-full&sslrootcert=CA.pem`); without it the tests are skipped (not in CI).
//!
//! What the writer's session sees is recorded by a trigger on `audit_records`, inside the
//! writer's own transaction: `pg_stat_ssl` for this backend, `synchronous_commit` and
//! `transaction_isolation`.

mod audit_support;

use audit_support::*;
use observa::audit::{self, AuditConfig, AuditErrorKind, Auditor, NewRecord, VerifyError};
use std::io::{Read as _, Write as _};

fn tls_url() -> Option<String> {
    match std::env::var("OBSERVA_TEST_POSTGRES_TLS_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_owned()),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "OBSERVA_TEST_POSTGRES_TLS_URL must be set in CI (scripts/ci-postgres-tls.sh)"
            );
            eprintln!("skipping: OBSERVA_TEST_POSTGRES_TLS_URL is not set");
            None
        }
    }
}

/// The same database without TLS, for the test's own client.
fn plain(url: &str) -> String {
    format!("{}?sslmode=disable", url.split('?').next().unwrap())
}

/// `url` with query option `key` set to `value` (replaced or added).
fn with_option(url: &str, key: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("{key}={value}"));
    format!("{base}?{}", pairs.join("&"))
}

fn option<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
}

/// Records, inside every transaction that inserts into `audit_records`, what the session sees.
fn install_probe(s: &PgSchema) {
    let n = &s.name;
    s.client()
        .batch_execute(&format!(
            "CREATE TABLE {n}.probe (ssl boolean, sync text, iso text);
             CREATE FUNCTION {n}.probe_fn() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO {n}.probe VALUES (
                 (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()),
                 current_setting('synchronous_commit'),
                 current_setting('transaction_isolation'));
               RETURN NULL;
             END $$;
             CREATE TRIGGER probe AFTER INSERT ON {n}.audit_records
               FOR EACH STATEMENT EXECUTE FUNCTION {n}.probe_fn();"
        ))
        .unwrap();
}

fn probes(s: &PgSchema) -> Vec<(Option<bool>, String, String)> {
    s.client()
        .query(&format!("SELECT ssl, sync, iso FROM {}.probe", s.name), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[test]
fn the_trail_is_written_and_verified_over_verified_tls() {
    let Some(tls) = tls_url() else { return };
    assert_eq!(option(&tls, "sslmode"), Some("verify-full"), "{tls}");
    let s = PgSchema::new(&plain(&tls), "tls");
    let url = with_option(&tls, "schema", &s.name);
    let a =
        Auditor::open(AuditConfig::new(&url).with_signing_key(test_key())).expect("open over TLS");
    install_probe(&s);
    a.append(NewRecord::new("user.update", "admin").target("u1"))
        .unwrap();
    a.close().unwrap();
    let p = probes(&s);
    assert!(!p.is_empty());
    for (ssl, _, _) in &p {
        assert_eq!(*ssl, Some(true), "the writer's session is not encrypted");
    }
    let r = audit::verify(&url).expect("verified over TLS");
    assert_eq!(r.records, 3);
    let (code, out, err) = cli_verify(&url, &["--public-key", &test_key().public_key_hex()]);
    assert_eq!(code, 0, "{out} {err}");

    // `verify-ca` and plain `require` connect too.
    let ca = with_option(&url, "sslmode", "verify-ca");
    assert_eq!(audit::verify(&ca).unwrap().records, 3);
    let root = option(&tls, "sslrootcert").unwrap();
    let require = url.replace(&format!("&sslrootcert={root}"), "");
    let require = with_option(&require, "sslmode", "require");
    assert!(option(&require, "sslrootcert").is_none());
    assert_eq!(audit::verify(&require).unwrap().records, 3);
}

#[test]
fn the_writer_pins_isolation_and_commit_flush_whatever_the_database_defaults() {
    let Some(tls) = tls_url() else { return };
    // The database defaults are what the writer must override.
    let mut c = postgres::Client::connect(&plain(&tls), postgres::NoTls).unwrap();
    let show = |c: &mut postgres::Client, what: &str| -> String {
        c.query_one(&format!("SHOW {what}"), &[]).unwrap().get(0)
    };
    assert_eq!(
        show(&mut c, "default_transaction_isolation"),
        "repeatable read"
    );
    assert_eq!(show(&mut c, "synchronous_commit"), "off");

    // Without TLS, so that only the pinning is under test.
    for (durability, sync) in [("durable", "on"), ("buffered", "off")] {
        let s = PgSchema::new(&plain(&tls), "pin");
        let url = with_option(&s.url(), "durability", durability);
        let a = Auditor::open(AuditConfig::new(&url)).expect("open");
        install_probe(&s);
        for i in 0..3 {
            a.append(NewRecord::new("user.update", "admin").target(format!("u{i}")))
                .unwrap();
        }
        a.close().unwrap();
        let p = probes(&s);
        assert!(p.len() >= 3, "{p:?}");
        for (_, got_sync, iso) in &p {
            assert_eq!(got_sync, sync, "{durability}: synchronous_commit");
            assert_eq!(iso, "read committed", "{durability}: transaction_isolation");
        }
        assert_eq!(audit::verify(&url).unwrap().records, 5);
    }
}

#[test]
fn a_wrong_root_or_a_server_without_tls_is_refused() {
    let Some(tls) = tls_url() else { return };
    let s = PgSchema::new(&plain(&tls), "tlsbad");
    let url = with_option(&tls, "schema", &s.name);
    let root = option(&tls, "sslrootcert").unwrap();
    let wrong = std::path::Path::new(root).with_file_name("wrong-ca.crt");
    assert!(
        wrong.exists(),
        "{} (made by ci-postgres-tls.sh)",
        wrong.display()
    );
    for mode in ["verify-ca", "verify-full", "require"] {
        let bad = with_option(
            &with_option(&url, "sslrootcert", &wrong.display().to_string()),
            "sslmode",
            mode,
        );
        let e = Auditor::open(AuditConfig::new(&bad)).expect_err(mode);
        assert_eq!(e.kind(), AuditErrorKind::Unavailable, "{mode}: {e}");
        assert!(matches!(
            audit::verify(&bad),
            Err(VerifyError::Unreadable(_))
        ));
    }
    // Without a root to verify against, `verify-*` is a configuration error, not a silent downgrade.
    let no_root = with_option(&plain(&tls), "sslmode", "verify-full");
    let e2 = Auditor::open(AuditConfig::new(&no_root)).expect_err("no sslrootcert");
    assert_eq!(e2.kind(), AuditErrorKind::Config, "{e2}");

    // A server that answers the TLS request with `N` (no TLS): `require` must hang up without
    // sending anything in clear, `prefer` goes on in clear (libpq's behaviour).
    for (mode, expect_more) in [("require", false), ("prefer", true)] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
                .unwrap();
            let mut req = [0u8; 8];
            sock.read_exact(&mut req).unwrap();
            sock.write_all(b"N").unwrap();
            let mut more = [0u8; 64];
            let n = sock.read(&mut more).unwrap_or(0);
            (req, n)
        });
        let url = format!("postgres://postgres@127.0.0.1:{port}/x?sslmode={mode}");
        assert!(Auditor::open(AuditConfig::new(&url)).is_err());
        let (req, more) = server.join().unwrap();
        // SSLRequest: length 8, code 80877103.
        assert_eq!(req, [0, 0, 0, 8, 4, 210, 22, 47], "{mode}");
        assert_eq!(
            more > 0,
            expect_more,
            "{mode}: bytes sent in clear after `N`: {more}"
        );
    }
}
