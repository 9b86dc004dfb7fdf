//! One neutraliser for every sink: zero-width characters, U+FEFF, the tag block, bidi and C0/C1
//! controls never reach the console format, the JSON file sink or the audit fallback raw.
//! (JSON on stdout: `log_bounds::invisible_characters_are_escaped_in_json_lines`.)

mod log_support;

use log_support::*;
use std::process::Command;
use std::time::{Duration, Instant};

const NASTY: &str = "a\u{200b}b\u{200c}c\u{200d}d\u{2060}e\u{feff}f\u{e0041}\u{e0001}\u{e007f}g\u{202e}h\u{85}i\u{1b}[31mj\u{2028}k";

/// What an audit record accepts (no control characters) but a terminal would hide or reorder.
const AUDIT_NASTY: &str = "a\u{200b}b\u{feff}c\u{e0041}d\u{202e}e\u{2028}f\u{2066}g";

fn file_path() -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("observa-neutral-{}", std::process::id()))
        .join("app.jsonl")
}

fn init() {
    let _ = std::fs::remove_dir_all(file_path().parent().unwrap());
    capture_config(
        observa::Config::new("neutral")
            .with_log_format(observa::Format::Console)
            .with_log_file(file_path(), 1 << 20, 1),
    );
}

#[test]
fn console_and_file_sinks_escape_invisible_characters() {
    if std::env::var_os("OBSERVA_TEST_CHILD").is_some() {
        return;
    }
    init();
    tracing::info!(v = NASTY, marker = "neutral-line-1", "msg {NASTY}");
    let console = line_with("neutral-line-1");
    assert!(!console.chars().any(forbidden), "{console:?}");
    assert!(console.contains("a\\u{200b}b"), "{console}");
    assert!(console.contains("\\u{e0041}"), "{console}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(file_path()).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("neutral-line-1")) {
            break l.to_owned();
        }
        assert!(Instant::now() < deadline, "not in the file: {text}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!line.chars().any(forbidden), "{line:?}");
    let v = parse_unique(&line).unwrap();
    assert_eq!(v["v"], NASTY);
    assert_eq!(v["message"], format!("msg {NASTY}"));
}

/// Run in a child process (its own global auditor, stderr captured by the parent).
#[test]
fn child_audit_fallback() {
    if std::env::var_os("OBSERVA_TEST_CHILD").is_none() {
        return;
    }
    use observa::audit::{self, AuditOutcome, NewRecord, Policy};
    let rec = NewRecord::new("user.rename", "admin\u{200b}1").target(AUDIT_NASTY);
    let a = audit::begin(rec, Policy::DegradeAndAlert).expect("degrades");
    let _ = a.finish(AuditOutcome::failure("E", AUDIT_NASTY));
}

#[test]
fn the_audit_fallback_on_stderr_escapes_invisible_characters() {
    if std::env::var_os("OBSERVA_TEST_CHILD").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("observa-neutral-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A path under a regular file: the store cannot open, the record degrades to stderr.
    std::fs::write(dir.join("plain"), b"x").unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_audit_fallback",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBSERVA_TEST_CHILD", "1")
        .env(
            "OBSERVA_AUDIT_URL",
            format!("sqlite:{}", dir.join("plain/audit.db").display()),
        )
        .env_remove("OBSERVA_AUDIT_FALLBACK")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.contains("audit.fallback"))
        .map(|l| {
            assert!(!l.chars().any(forbidden), "raw character in {l:?}");
            parse_unique(l).unwrap()
        })
        .collect();
    assert_eq!(records.len(), 2, "{stderr}");
    assert_eq!(records[0]["target"], AUDIT_NASTY);
    assert_eq!(records[0]["actor"], "admin\u{200b}1");
    assert_eq!(records[1]["outcome"]["message"], AUDIT_NASTY);
    let _ = std::fs::remove_dir_all(&dir);
}
