//! The fingerprint key per deployment: from `OBSERVA_REDACT_KEY`, from `set_fingerprint_key`, or
//! random per process. The key is process-global and chosen once, so each scenario runs in a
//! child process (this test binary again, filtered to one `child_*` test).

use observa::redact::{FingerprintKey, FingerprintKeyError, KeySource};
use std::process::Command;

const VALUE: &str = "session-4f1c0e7a";
const KEY: &str = "deployment-key-0123456789abcdef";
const CHILD: &str = "OBSERVA_TEST_REDACT_CHILD";

/// Runs `test` of this binary in a child process with `env` set; returns what follows `out:` on
/// each line of its stdout that has it (libtest may print its own text before).
fn run_child(test: &str, env: &[(&str, &str)]) -> Vec<String> {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("OBSERVA_REDACT_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once("out:").map(|(_, v)| v.to_owned()))
        .collect()
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn expected(key: &str) -> String {
    FingerprintKey::new(key.as_bytes())
        .expect("key")
        .fingerprint(VALUE)
        .to_string()
}

#[test]
fn child_report() {
    if !in_child() {
        return;
    }
    let source = observa::redact::fingerprint_key_source();
    println!("out:{source:?}");
    println!("out:{}", observa::redact::fingerprint(VALUE));
}

#[test]
fn child_install_then_report() {
    if !in_child() {
        return;
    }
    let first = observa::redact::set_fingerprint_key(KEY.as_bytes());
    let second = observa::redact::set_fingerprint_key(b"another-key-0123456789");
    println!("out:{first:?}");
    println!("out:{second:?}");
    println!("out:{:?}", observa::redact::fingerprint_key_source());
    println!("out:{}", observa::redact::fingerprint(VALUE));
}

#[test]
fn child_use_then_install() {
    if !in_child() {
        return;
    }
    let _ = observa::redact::fingerprint(VALUE);
    println!(
        "out:{:?}",
        observa::redact::set_fingerprint_key(KEY.as_bytes())
    );
}

#[test]
fn key_from_the_environment() {
    if in_child() {
        return;
    }
    let out = run_child("child_report", &[("OBSERVA_REDACT_KEY", KEY)]);
    assert_eq!(
        out,
        [format!("{:?}", KeySource::Environment), expected(KEY)]
    );
    // The same key gives the same pseudonyms in another process (another replica).
    let again = run_child("child_report", &[("OBSERVA_REDACT_KEY", KEY)]);
    assert_eq!(out, again);
}

#[test]
fn a_short_environment_key_is_refused_for_a_random_one() {
    if in_child() {
        return;
    }
    let out = run_child("child_report", &[("OBSERVA_REDACT_KEY", "short")]);
    assert_eq!(
        out[0],
        format!("{:?}", KeySource::Random { env_rejected: true })
    );
    assert_eq!(out[1].len(), 8);
}

#[test]
fn without_a_key_each_process_draws_its_own() {
    if in_child() {
        return;
    }
    let a = run_child("child_report", &[]);
    let b = run_child("child_report", &[]);
    assert_eq!(
        a[0],
        format!(
            "{:?}",
            KeySource::Random {
                env_rejected: false
            }
        )
    );
    assert_eq!(a[1].len(), 8);
    // Random keys: the pseudonym differs between processes (a plain hash would not).
    assert_ne!(a[1], b[1]);
}

#[test]
fn an_installed_key_wins_and_is_set_once() {
    if in_child() {
        return;
    }
    let out = run_child(
        "child_install_then_report",
        &[("OBSERVA_REDACT_KEY", "environment-key-0123456789")],
    );
    assert_eq!(
        out,
        [
            "Ok(())".to_owned(),
            format!("Err({:?})", FingerprintKeyError::AlreadySet),
            format!("{:?}", KeySource::Installed),
            expected(KEY),
        ]
    );
    let late = run_child("child_use_then_install", &[]);
    assert_eq!(
        late,
        [format!("Err({:?})", FingerprintKeyError::AlreadySet)]
    );
}
