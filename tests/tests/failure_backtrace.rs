//! Who decides whether a panic's ERROR line carries a backtrace: `OBSERVA_PANIC_BACKTRACE=0`
//! (and `Config::with_panic_backtrace(false)`) turn it off even with `RUST_BACKTRACE=1`;
//! `RUST_BACKTRACE=1` alone turns it on; `OBSERVA_PANIC_BACKTRACE=1` forces it. Each case runs in
//! a child process (this test binary re-run with its own environment: std reads the backtrace
//! variables once per process) and its real `<event>.failed` line is parsed back.

use observa::observed;
use serde_json::Value;
use std::process::Command;

const CHILD: &str = "OBSERVA_TEST_BACKTRACE_CHILD";

#[observed(event = "bt.compute")]
fn compute(n: u64) -> u64 {
    if n > 1 {
        panic!("compute crashed");
    }
    n
}

/// The child: initialises observa from the environment (or with `with_panic_backtrace(false)`
/// when asked), panics inside an `#[observed]` call and prints the failure line.
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let w = observa::MemoryWriter::new();
    let mut config = observa::Config::from_env()
        .expect("config")
        .with_writer(w.clone());
    if mode == "config-off" {
        config = config.with_panic_backtrace(false);
    }
    let guard = observa::init(config).expect("init");
    assert!(std::panic::catch_unwind(|| compute(2)).is_err());
    // Dropping the guard flushes the log writer.
    drop(guard);
    let text = w.contents();
    let line = text
        .lines()
        .find(|l| l.contains("\"outcome\":\"panic\""))
        .unwrap_or_else(|| panic!("no failure line in {text}"))
        .to_owned();
    println!("FAILED-LINE {line}");
}

/// Runs the child with `env` (the backtrace variables cleared first) and returns its line.
fn failed_line(mode: &str, env: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("OBSERVA_PANIC_BACKTRACE")
        .env("OBSERVA_SERVICE_NAME", "bt");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("FAILED-LINE ").map(|(_, j)| j))
        .unwrap_or_else(|| panic!("no failure line: {stdout}"));
    let v: Value = serde_json::from_str(line).expect("JSON line");
    assert_eq!(v["level"], "error", "{v}");
    assert_eq!(v["outcome"], "panic", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("compute crashed"),
        "{v}"
    );
    v
}

fn backtrace(v: &Value) -> Option<&str> {
    v.get("backtrace")
        .or_else(|| v.get("fields").and_then(|f| f.get("backtrace")))
        .and_then(Value::as_str)
}

#[test]
fn rust_backtrace_alone_turns_backtraces_on() {
    let v = failed_line("env", &[("RUST_BACKTRACE", "1")]);
    let bt = backtrace(&v).unwrap_or_else(|| panic!("no backtrace: {v}"));
    assert!(bt.contains("compute"), "{bt}");
}

#[test]
fn observa_panic_backtrace_0_wins_over_rust_backtrace() {
    let v = failed_line(
        "env",
        &[("RUST_BACKTRACE", "1"), ("OBSERVA_PANIC_BACKTRACE", "0")],
    );
    assert_eq!(backtrace(&v), None, "{v}");
}

#[test]
fn config_setting_off_wins_over_rust_backtrace() {
    let v = failed_line("config-off", &[("RUST_BACKTRACE", "1")]);
    assert_eq!(backtrace(&v), None, "{v}");
}

#[test]
fn observa_panic_backtrace_1_forces_backtraces() {
    let v = failed_line(
        "env",
        &[("RUST_BACKTRACE", "0"), ("OBSERVA_PANIC_BACKTRACE", "1")],
    );
    assert!(backtrace(&v).is_some_and(|b| b.contains("compute")), "{v}");
}

#[test]
fn no_variable_no_backtrace() {
    let v = failed_line("env", &[]);
    assert_eq!(backtrace(&v), None, "{v}");
}
