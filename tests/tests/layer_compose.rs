//! observa as a `tracing_subscriber::Layer` in a registry of the user's, beside another layer:
//! both see every event, observa's lines are the lines `init` writes (compared byte for byte,
//! timestamps and durations aside, between two child processes running the same scenario), and
//! a second observa pipeline is a clear error.

use observa::observed;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Another layer: records the `event` (or message) of every event it sees, and the spans.
#[derive(Clone, Default)]
struct Counting {
    events: Arc<Mutex<Vec<(tracing::Level, String)>>>,
}

struct Name(Option<String>);

impl Visit for Name {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "event" {
            self.0 = Some(v.to_owned());
        }
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" && self.0.is_none() {
            self.0 = Some(format!("{v:?}"));
        }
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Counting {
    fn on_event(&self, e: &tracing::Event<'_>, _cx: Context<'_, S>) {
        let mut n = Name(None);
        e.record(&mut n);
        self.events
            .lock()
            .unwrap()
            .push((*e.metadata().level(), n.0.unwrap_or_default()));
    }
}

#[derive(Debug)]
struct Store(std::io::Error);

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store unavailable")
    }
}

impl std::error::Error for Store {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[observed(event = "compose.charge", tenant, fields(amount))]
fn charge(tenant: &str, amount: u64) -> Result<u64, Store> {
    tracing::info!(
        password = "canary-compose-pw",
        rows = 3u64,
        "inside the call"
    );
    if amount == 0 {
        Err(Store(std::io::Error::other("disk gone")))
    } else {
        Ok(amount)
    }
}

/// The scenario both children run, through `init` or through `layer`.
fn scenario() {
    let _ = charge("acme", 7);
    let _ = charge("acme", 0);
    tracing::debug!(event = "compose.debug", "only the other layer wants this");
    tracing::warn!(
        event = "compose.outside",
        token = "canary-compose-tok",
        "no context"
    );
}

static LOGS: OnceLock<(observa::MemoryWriter, Counting)> = OnceLock::new();

fn installed() -> &'static (observa::MemoryWriter, Counting) {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let counting = Counting::default();
        let (layer, guard) = observa::layer(
            observa::Config::new("compose")
                .with_writer(w.clone())
                .with_log_level("info"),
        )
        .expect("layer");
        std::mem::forget(guard);
        let subscriber = tracing_subscriber::registry()
            .with(layer)
            .with(counting.clone());
        tracing::subscriber::set_global_default(subscriber).expect("global");
        (w, counting)
    })
}

fn lines(w: &observa::MemoryWriter, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got: Vec<Value> = w
            .contents()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        if pred(&got) || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn observa_and_another_layer_both_see_every_event() {
    let (w, counting) = installed();
    scenario();
    let got = lines(w, |l| l.iter().any(|v| v["event"] == "compose.outside"));
    let seen = counting.events.lock().unwrap().clone();
    // The other layer saw every event, including the DEBUG one observa's filter leaves out.
    for name in [
        "compose.charge.completed",
        "compose.charge.failed",
        "compose.debug",
        "compose.outside",
    ] {
        assert!(
            seen.iter().any(|(_, n)| n == name),
            "other layer missed {name}: {seen:?}"
        );
    }
    assert_eq!(
        seen.iter().filter(|(_, n)| n == "inside the call").count(),
        2,
        "{seen:?}"
    );
    // observa wrote its lines: context on every line inside the call, key filter, chain.
    let ok = got
        .iter()
        .find(|v| v["event"] == "compose.charge.completed")
        .expect("completed line");
    assert_eq!(ok["tenant_id"], "acme");
    assert_eq!(ok["amount"], 7);
    let failed = got
        .iter()
        .find(|v| v["event"] == "compose.charge.failed")
        .expect("failed line");
    assert_eq!(failed["level"], "error");
    assert_eq!(failed["error"], "store unavailable: disk gone");
    let inside: Vec<&Value> = got
        .iter()
        .filter(|v| v["message"] == "inside the call")
        .collect();
    assert_eq!(inside.len(), 2);
    for v in &inside {
        assert_eq!(v["tenant_id"], "acme");
        assert!(v["correlation_id"].is_string());
        assert_eq!(v["password"], "[REDACTED]");
    }
    assert!(!got.iter().any(|v| v["event"] == "compose.debug"));
    let raw = w.contents();
    assert!(!raw.contains("canary-compose"), "{raw}");
}

#[test]
fn a_second_pipeline_is_a_clear_error() {
    installed();
    let e = observa::layer::<tracing_subscriber::Registry>(observa::Config::new("again"))
        .err()
        .expect("second layer refused");
    assert!(matches!(e, observa::InitError::AlreadyInitialized), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("already installed"), "{msg}");
    assert!(msg.contains("`observa::layer`"), "{msg}");
    let e = observa::init(observa::Config::new("again")).expect_err("init after layer refused");
    assert!(matches!(e, observa::InitError::AlreadyInitialized), "{e:?}");
}

#[test]
fn sentry_unset_installs_nothing() {
    installed();
    assert!(!observa::sentry::is_enabled());
    assert!(!observa::sentry::capture_message(
        "nobody listens",
        tracing::Level::ERROR
    ));
    let e = std::io::Error::other("nobody listens");
    assert!(!observa::sentry::capture_error(&e));
    assert_eq!(observa::sentry::stats(), observa::sentry::Stats::default());
    assert!(!observa::metrics::render().contains("observa_sentry"));
}

/// Child side: runs the scenario through `init` or `layer` (per `OBSERVA_COMPOSE_CHILD`) and
/// prints observa's lines. A no-op in the normal test run.
#[test]
fn child_scenario() {
    let Ok(mode) = std::env::var("OBSERVA_COMPOSE_CHILD") else {
        return;
    };
    let w = observa::MemoryWriter::new();
    let config = observa::Config::new("compose")
        .with_writer(w.clone())
        .with_log_level("info");
    let guard = match mode.as_str() {
        "init" => observa::init(config).expect("init"),
        _ => {
            let (layer, guard) = observa::layer(config).expect("layer");
            let subscriber = tracing_subscriber::registry()
                .with(layer)
                .with(Counting::default());
            tracing::subscriber::set_global_default(subscriber).expect("global");
            guard
        }
    };
    scenario();
    drop(guard);
    println!("<<<LINES\n{}LINES>>>", w.contents());
}

/// `line` with the value of `key` replaced by `_` (values that differ between runs by nature).
fn blank(line: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let Some(i) = line.find(&pat) else {
        return line.to_owned();
    };
    let start = i + pat.len();
    let rest = &line[start..];
    let end = if let Some(r) = rest.strip_prefix('"') {
        1 + r.find('"').expect("closing quote") + 1
    } else {
        rest.find([',', '}']).expect("end of number")
    };
    format!("{}\"_\"{}", &line[..start], &rest[end..])
}

fn child_lines(mode: &str) -> Vec<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_scenario",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBSERVA_COMPOSE_CHILD", mode)
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{mode} child failed: {stdout}");
    let body = stdout
        .split("<<<LINES\n")
        .nth(1)
        .and_then(|s| s.split("LINES>>>").next())
        .expect("lines block");
    body.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON line");
            let mut l = l.to_owned();
            for k in ["timestamp", "duration_ms", "correlation_id"] {
                l = blank(&l, k);
            }
            l
        })
        .collect()
}

#[test]
fn observa_lines_through_the_layer_equal_the_lines_of_init() {
    let via_init = child_lines("init");
    let via_layer = child_lines("layer");
    // Two lines inside the calls, two completions, the warning (the DEBUG line is filtered).
    assert_eq!(via_init.len(), 5, "{via_init:#?}");
    // Byte for byte: same keys in the same order, same values.
    assert_eq!(via_init, via_layer);
    let counts: HashMap<String, usize> = via_layer.iter().fold(HashMap::new(), |mut m, l| {
        let v: Value = serde_json::from_str(l).unwrap();
        *m.entry(v["event"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
        m
    });
    assert_eq!(counts.get("compose.charge.failed"), Some(&1));
    assert_eq!(counts.get("log"), Some(&2));
}
