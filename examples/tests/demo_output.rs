//! What the README's first command shows, asserted on the demo's real output (the binary run as
//! a child process): the masked form of `#[derive(Redact)]` with a `Secret`, the `#[audit]`
//! trail verified (and verified again here, independently, from the same file), and the metrics
//! summary, which counts exactly the series of the full exposition (`--full-metrics`), and the
//! Sentry events received by the demo's stand-in endpoint.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The secrets the demo puts in its login form: none may appear anywhere in its output.
const SECRETS: [&str; 3] = ["correct horse battery", "sk_live_51HxDemoKey", "jane.doe"];

fn demo(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.args(args).env_remove("OBSERVA_AUDIT_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the demo");
    assert!(
        out.status.success(),
        "demo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The lines of the section whose header starts with `== {title}`, up to the next header.
fn section(stdout: &str, title: &str) -> Vec<String> {
    let header = format!("== {title}");
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&header));
    assert!(
        lines.next().is_some(),
        "no `{header}` section in:\n{stdout}"
    );
    lines
        .take_while(|l| !l.starts_with("== "))
        .map(str::to_owned)
        .collect()
}

fn json_lines(stdout: &str) -> Vec<Value> {
    section(stdout, "log lines ==")
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("observa-demo-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn demo_shows_the_redacted_form_masked_in_its_debug_and_in_its_line() {
    let out = demo(&[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    for s in SECRETS {
        assert!(!stdout.contains(s), "stdout leaks {s:?}");
        assert!(!stderr.contains(s), "stderr leaks {s:?}");
    }
    let shown = section(&stdout, "redaction ==");
    assert_eq!(
        shown[0],
        r#"Debug: LoginForm { email: "j***@example.com", password: [REDACTED], api_key: [REDACTED], remember_me: true }"#
    );
    let line = shown[1].strip_prefix("line:  ").expect("the login line");
    let line: Value = serde_json::from_str(line).expect("a JSON line");
    assert_eq!(line["event"], "auth.login.completed");
    assert_eq!(line["tenant_id"], "acme");
    assert_eq!(
        line["form"],
        serde_json::json!({
            "email": "j***@example.com",
            "password": "[REDACTED]",
            "api_key": "[REDACTED]",
            "remember_me": true,
        })
    );
    // The line shown is the one the pipeline wrote.
    assert!(json_lines(&stdout).contains(&line));
}

#[test]
fn demo_audit_trail_is_verified_and_the_file_verifies_the_same_here() {
    let dir = temp_dir("audit");
    let url = format!("sqlite:{}", dir.join("trail.db").display());
    let out = demo(&[], &[("OBSERVA_AUDIT_URL", &url)]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let shown = section(&stdout, "audit trail ==");
    assert_eq!(shown[0], format!("trail: {url}"));

    // Verified again from the kept file, with the demo's own `audit.checkpoint` lines as the
    // witness: the printed result is this report.
    let lines = section(&stdout, "log lines ==");
    let witness = lines
        .iter()
        .filter_map(|l| observa::audit::WitnessCheckpoint::parse_line(l));
    let report = observa::audit::verify_with(
        &url,
        &observa::audit::VerifyOptions::default().witness(witness),
    )
    .expect("the demo's trail is intact");
    assert_eq!(shown[1], format!("verify: {report}"));
    // audit.started, two attempts and their outcomes, audit.stopped.
    assert_eq!(report.records, 6, "{report}");
    assert!(report.clean_shutdown);
    assert!(report.checkpoints >= 1 && report.witnessed >= 1, "{report}");
    assert!(
        shown[1].starts_with("verify: intact: 6 records"),
        "{}",
        shown[1]
    );
    assert!(
        shown[2].contains(&format!("observa-audit -- verify {url}")),
        "{}",
        shown[2]
    );

    // Each call's two records, in order, in the chain, under the call's correlation id.
    let recorded: Vec<Value> = json_lines(&stdout)
        .into_iter()
        .filter(|l| l["event"] == "audit.recorded" && l["action"] == "user.suspend")
        .collect();
    let outcomes: Vec<(&str, u64)> = recorded
        .iter()
        .map(|l| {
            (
                l["outcome"].as_str().unwrap_or_default(),
                l["seq"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("attempted", 2),
            ("success", 3),
            ("attempted", 4),
            ("failure", 5)
        ]
    );
    assert_eq!(recorded[0]["correlation_id"], recorded[1]["correlation_id"]);
    assert_eq!(recorded[2]["correlation_id"], recorded[3]["correlation_id"]);
    assert_ne!(recorded[0]["correlation_id"], recorded[2]["correlation_id"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_without_a_trail_url_verifies_a_temporary_file_and_removes_it() {
    let out = demo(&[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let shown = section(&stdout, "audit trail ==");
    let path = shown[0]
        .strip_prefix("trail: sqlite:")
        .expect("a SQLite trail");
    assert!(path.contains("observa-demo-"), "{path}");
    assert!(
        shown[1].starts_with("verify: intact: 6 records"),
        "{}",
        shown[1]
    );
    assert!(
        shown[1].contains("1 witness checkpoints matched"),
        "{}",
        shown[1]
    );
    assert_eq!(shown.len(), 2, "nothing kept: {shown:?}");
    let dir = std::path::Path::new(path).parent().expect("its directory");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// `name: N series (kind)` lines of the summary.
fn summary(stdout: &str) -> (BTreeMap<String, usize>, Vec<String>) {
    let lines = section(stdout, "metrics ==");
    let mut counts = BTreeMap::new();
    let mut rest = Vec::new();
    for l in lines {
        let parsed = l.split_once(": ").and_then(|(name, tail)| {
            let n = tail.split_once(" series (")?.0.parse::<usize>().ok()?;
            Some((name.to_owned(), n))
        });
        match parsed {
            Some((name, n)) => {
                counts.insert(name, n);
            }
            None => rest.push(l),
        }
    }
    (counts, rest)
}

#[test]
fn demo_metrics_summary_counts_the_series_of_the_full_exposition() {
    let out = demo(&["--full-metrics"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (counts, rest) = summary(&stdout);

    let exposition = section(&stdout, "metrics exposition ==");
    let scrape = prometheus_parse::Scrape::parse(exposition.iter().map(|l| Ok(l.clone())))
        .expect("a Prometheus exposition");
    // A histogram's buckets come back as one sample per series under the family's name; its
    // `_sum` / `_count` lines under names that are not families.
    let mut parsed: BTreeMap<String, usize> = BTreeMap::new();
    for s in &scrape.samples {
        if scrape.docs.contains_key(&s.metric) {
            *parsed.entry(s.metric.clone()).or_default() += 1;
        }
    }
    assert_eq!(counts, parsed);

    // Every macro's families are there: one call series per (event, outcome) of each site.
    let calls = |event: &str| {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "observa_calls_total" && s.labels.get("event") == Some(event))
            .count()
    };
    for event in [
        "orders.get",
        "auth.login",
        "users.suspend",
        "reports.render",
    ] {
        assert!(
            calls(event) >= 1,
            "no observa_calls_total series for {event}"
        );
    }
    assert_eq!(counts["audit_events_total"], parsed["audit_events_total"]);
    assert!(counts["audit_events_total"] >= 3, "{counts:?}");
    assert_eq!(
        rest,
        [format!(
            "{} families, {} series; the full Prometheus exposition: cargo run -p examples --bin demo -- --full-metrics",
            counts.len(),
            counts.values().sum::<usize>()
        )]
    );
}

#[test]
fn demo_prints_a_short_summary_and_no_exposition_by_default() {
    let out = demo(&[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (counts, rest) = summary(&stdout);
    assert!(counts.len() >= 10, "{counts:?}");
    // Seven sites in the `observa_calls` families (`sync_job` has its own, `worker_jobs`): a
    // counter series per outcome (five), one histogram and one in-flight gauge each. The
    // README quotes the first line.
    assert!(
        stdout.contains("\nobserva_calls_total: 35 series (counter)\n"),
        "{counts:?}"
    );
    assert_eq!(counts["observa_calls_duration_seconds"], 7);
    assert_eq!(counts["observa_calls_in_flight"], 7);
    assert_eq!(counts["worker_jobs_total"], 5);
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].ends_with("-- --full-metrics"), "{}", rest[0]);
    assert!(!stdout.contains("== metrics exposition =="));
    assert!(
        !stdout.contains("# TYPE"),
        "exposition printed without the flag"
    );
    assert!(
        stdout.lines().count() < 120,
        "{} lines",
        stdout.lines().count()
    );
}

#[test]
fn demo_shows_the_sentry_events_of_server_errors_and_panics_only() {
    let out = demo(&[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut events: Vec<(String, String)> = section(&stdout, "sentry events")
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .map(|e| {
            (
                e["tags"]["event"].as_str().unwrap_or_default().to_owned(),
                e["tags"]["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    events.sort();
    // Not the client errors (`orders.get` not found, the refused `users.suspend`), nor the
    // cancelled upload.
    assert_eq!(
        events,
        [
            ("orders.get.failed".to_owned(), "server_error".to_owned()),
            ("reports.render.failed".to_owned(), "panic".to_owned())
        ]
    );
}

#[test]
fn demo_refuses_an_unknown_argument_naming_the_valid_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--full-metric")
        .output()
        .expect("run the demo");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown argument `--full-metric`; expected `schema` or `--full-metrics`"),
        "{stderr}"
    );
}

#[test]
fn demo_fails_on_a_tampered_trail_and_says_which_record() {
    let dir = temp_dir("tampered");
    let url = format!("sqlite:{}", dir.join("trail.db").display());
    demo(&[], &[("OBSERVA_AUDIT_URL", &url)]);
    // Someone with write access rewrites who suspended the user (record 2, `attempted`).
    let db = rusqlite::Connection::open(dir.join("trail.db")).expect("open the trail");
    db.execute_batch(
        "DROP TRIGGER audit_records_no_update;
         UPDATE audit_records SET actor = 'mallory' WHERE seq = 2;",
    )
    .expect("tamper");
    drop(db);

    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("OBSERVA_AUDIT_URL", &url)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "a tampered trail must fail the run:\n{stdout}"
    );
    let shown = section(&stdout, "audit trail ==");
    assert!(
        shown[1].starts_with(
            "verify: FAILED: audit trail NOT intact: first bad record 2: record modified"
        ),
        "{}",
        shown[1]
    );
    assert!(
        stderr.contains("audit trail NOT intact: first bad record 2"),
        "{stderr}"
    );
    // The run itself went on to the end: every section is there.
    for title in ["metrics ==", "sentry events"] {
        section(&stdout, title);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
