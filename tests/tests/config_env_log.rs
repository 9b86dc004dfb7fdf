//! Log settings read from the environment, each with a value unlike its default, checked on the
//! lines a child process writes to its real stdout: `OBSERVA_LOG_LEVEL` (default `info`),
//! `OBSERVA_LOG_FORMAT=console` (default `json`), `OBSERVA_ENV=staging` (default `development`),
//! `OBSERVA_LOG_MAX_LINE_BYTES` (default 65536) and `OBSERVA_LOG_MAX_VALUE_BYTES` (default 4096).
//!
//! The Sentry settings (`SENTRY_DSN`, `OBSERVA_SENTRY_ENVIRONMENT`, `OBSERVA_SENTRY_RELEASE`,
//! `OBSERVA_SENTRY_SAMPLE_RATE`) are read from the environment into `Config` here; that those
//! `Config` values reach the Sentry envelopes is `sentry_ingest.rs` and `sentry_sampled.rs`.
//!
//! `init` is once per process and the environment is process-wide: each case is a child
//! process of this test binary.

use std::process::Command;

const CHILD: &str = "OBSERVA_TEST_ENV_LOG_CHILD";

fn run_child(name: &str, envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("OBSERVA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("SENTRY_DSN").env(CHILD, "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn child_level_format_env_line_bound() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let guard = observa::init_from_env().unwrap();
    let info = observa::runtime_info().unwrap();
    tracing::info!(target: "app", "info-hidden");
    tracing::warn!(target: "app", "warn-shown");
    tracing::debug!(target: "chatty", "debug-shown");
    tracing::debug!(target: "app", "debug-hidden");
    let big = "b".repeat(4000);
    tracing::warn!(
        target: "app",
        f1 = %big, f2 = %big, f3 = %big, f4 = %big, f5 = %big, f6 = %big, f7 = %big, f8 = %big,
        "wide-line"
    );
    drop(guard);
    println!(
        "environment={} production={}",
        info.environment, info.production
    );
}

#[test]
fn level_format_environment_and_line_bound_come_from_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let out = run_child(
        "child_level_format_env_line_bound",
        &[
            ("OBSERVA_LOG_LEVEL", "warn,chatty=debug"),
            ("OBSERVA_LOG_FORMAT", "console"),
            ("OBSERVA_ENV", "staging"),
            ("OBSERVA_LOG_MAX_LINE_BYTES", "20000"),
        ],
    );
    // Level directives: warn for everyone, debug for `chatty` (default `info` would show
    // `info-hidden` and hide `debug-shown`).
    assert!(
        !out.contains("info-hidden") && !out.contains("debug-hidden"),
        "{out}"
    );
    let line = |m: &str| {
        out.lines()
            .find(|l| l.contains(m))
            .unwrap_or_else(|| panic!("no `{m}` line: {out}"))
    };
    // Console format: `<timestamp> LEVEL event message target=...`, not JSON.
    let warn = line("warn-shown");
    assert!(warn.contains(" WARN  log warn-shown target=app"), "{warn}");
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with('{')),
        "{out}"
    );
    assert!(line("debug-shown").contains(" DEBUG log debug-shown target=chatty"));
    // Line bound 20000: eight fields of 4000 bytes do not fit (they would under 65536).
    let wide = line("wide-line");
    assert!(wide.len() <= 20_000, "{} bytes", wide.len());
    assert!(
        wide.ends_with("line_truncated=true"),
        "{}",
        &wide[wide.len() - 80..]
    );
    // Environment: not production (no allowlist), and named as set.
    assert!(
        out.contains("environment=staging production=false"),
        "{out}"
    );
}

#[test]
fn child_value_bound() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let guard = observa::init_from_env().unwrap();
    let long = "v".repeat(500);
    tracing::info!(target: "app", detail = %long, "{}", long);
    drop(guard);
}

#[test]
fn value_bound_comes_from_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let out = run_child(
        "child_value_bound",
        &[("OBSERVA_LOG_MAX_VALUE_BYTES", "64")],
    );
    let v: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
        .find(|v: &serde_json::Value| v["target"] == "app")
        .unwrap_or_else(|| panic!("no app line: {out}"));
    let marker = observa::log::json::TRUNCATION_MARKER;
    // 500 bytes cut to 64 plus the marker (the default 4096 keeps them whole).
    for key in ["message", "detail"] {
        let s = v[key].as_str().unwrap();
        assert_eq!(s, format!("{}{marker}", "v".repeat(64)), "{key}");
    }
}

#[test]
fn child_sentry_settings() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let c = observa::Config::from_env().unwrap();
    println!(
        "dsn={} environment={} release={} rate={}",
        c.sentry_dsn.as_deref().unwrap_or("-"),
        c.sentry_environment.as_deref().unwrap_or("-"),
        c.sentry_release.as_deref().unwrap_or("-"),
        c.sentry_sample_rate
    );
}

#[test]
fn sentry_settings_come_from_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // `SENTRY_DSN` (the Sentry SDK's own name) is read too; `OBSERVA_SENTRY_DSN` wins over it.
    let out = run_child(
        "child_sentry_settings",
        &[
            ("SENTRY_DSN", "http://plain@127.0.0.1:9/1"),
            ("OBSERVA_SENTRY_ENVIRONMENT", "staging-eu"),
            ("OBSERVA_SENTRY_RELEASE", "shop@9.9.9-rc1"),
            ("OBSERVA_SENTRY_SAMPLE_RATE", "0.25"),
        ],
    );
    assert!(
        out.contains(
            "dsn=http://plain@127.0.0.1:9/1 environment=staging-eu release=shop@9.9.9-rc1 rate=0.25"
        ),
        "{out}"
    );
    let out = run_child(
        "child_sentry_settings",
        &[
            ("SENTRY_DSN", "http://plain@127.0.0.1:9/1"),
            ("OBSERVA_SENTRY_DSN", "http://own@127.0.0.1:9/2"),
        ],
    );
    assert!(
        out.contains("dsn=http://own@127.0.0.1:9/2 environment=- release=- rate=1"),
        "{out}"
    );
}
