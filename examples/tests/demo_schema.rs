//! The event catalogue's JSON Schema (`demo schema`, from the demo's own inventory) accepts
//! every real line the demo writes, and refuses a line whose redacted field leaked or whose
//! recorded field has the wrong type.

use serde_json::Value;
use std::process::Command;

#[test]
fn every_line_of_the_demo_validates_against_its_generated_schema() {
    let schema = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("schema")
        .output()
        .expect("demo schema");
    assert!(schema.status.success());
    let schema: Value = serde_json::from_slice(&schema.stdout).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");

    let run = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("OBSERVA_LOG_FORMAT", "json")
        .output()
        .expect("demo");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    let lines: Vec<Value> = out
        .lines()
        .skip_while(|l| *l != "== log lines ==")
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 10, "{} lines", lines.len());
    for want in [
        "orders.get.failed",
        "sync_job.completed",
        "reports.render.failed",
        "export.upload.failed",
    ] {
        assert!(lines.iter().any(|l| l["event"] == want), "no {want} line");
    }
    for l in &lines {
        let errors: Vec<String> = validator.iter_errors(l).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{l}: {errors:?}");
    }
    let sync = lines
        .iter()
        .find(|l| l["event"] == "sync_job.completed")
        .expect("sync_job line");
    let mut leaked = sync.clone();
    leaked["password"] = Value::from("hunter2");
    assert!(
        !validator.is_valid(&leaked),
        "an unredacted password must not validate"
    );
    let mut wrong = sync.clone();
    wrong["job_id"] = Value::from("42");
    assert!(!validator.is_valid(&wrong), "job_id is a u64");
}
