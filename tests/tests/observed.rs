//! `#[observed]` end to end: the real pipeline (`observa::init`), lines captured from its writer
//! and parsed back as JSON, the exposition parsed back with a Prometheus parser.

use observa::observed;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

mod log_support;
use log_support::{json_lines as all_lines, wait_lines};

fn setup() {
    log_support::capture("observed-tests", "info,observed=debug");
}

fn by_event(event: &str) -> Vec<Value> {
    wait_lines(|v| v["event"] == event, |l| !l.is_empty())
}

fn with_field(key: &str, val: &str, n: usize) -> Vec<Value> {
    wait_lines(|v| v[key] == val, |l| l.len() >= n)
}

#[derive(Debug)]
enum AppError {
    Invalid(&'static str),
    Db(std::io::Error),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Invalid(w) => write!(f, "invalid {w}"),
            AppError::Db(_) => f.write_str("query failed"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Db(e) => Some(e),
            AppError::Invalid(_) => None,
        }
    }
}

impl observa::Classify for AppError {
    fn error_class(&self) -> observa::ErrorClass {
        match self {
            AppError::Invalid(_) => observa::ErrorClass::Client,
            AppError::Db(_) => observa::ErrorClass::Server,
        }
    }
}

#[observed(event = "t.outcomes", tenant, fields(kind))]
fn outcomes(tenant: &str, kind: u8) -> Result<u32, AppError> {
    match kind {
        0 => Ok(7),
        1 => Err(AppError::Invalid("email")),
        _ => Err(AppError::Db(std::io::Error::other("connection reset"))),
    }
}

#[test]
fn every_returned_outcome_is_one_line_with_canonical_fields() {
    setup();
    assert_eq!(outcomes("t-outcomes", 0).unwrap(), 7);
    assert!(matches!(
        outcomes("t-outcomes", 1),
        Err(AppError::Invalid("email"))
    ));
    assert!(matches!(outcomes("t-outcomes", 2), Err(AppError::Db(_))));
    let lines = with_field("tenant_id", "t-outcomes", 3);
    assert_eq!(lines.len(), 3, "{lines:#?}");

    let ok = &lines[0];
    assert_eq!(ok["event"], "t.outcomes.completed");
    assert_eq!(ok["level"], "info");
    assert_eq!(ok["outcome"], "ok");
    assert_eq!(ok["kind"], 0);
    assert_eq!(ok["target"], "observed");
    assert!(ok["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(ok["correlation_id"].as_str().unwrap().len(), 32);
    assert!(
        ok.get("user_id").is_none(),
        "unbound user must be absent, not null"
    );
    assert!(ok["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(ok.get("error").is_none());

    let client = &lines[1];
    assert_eq!(client["event"], "t.outcomes.failed");
    assert_eq!(client["outcome"], "client_error");
    assert_eq!(client["level"], "info");
    assert_eq!(client["error"], "invalid email");
    assert_eq!(client["error_type"], "AppError");

    let server = &lines[2];
    assert_eq!(server["outcome"], "server_error");
    assert_eq!(server["level"], "error");
    assert_eq!(server["error"], "query failed: connection reset");

    // Each top-level call gets its own correlation id.
    let ids: HashSet<_> = lines.iter().map(|l| l["correlation_id"].clone()).collect();
    assert_eq!(ids.len(), 3);
}

#[derive(Debug, observa::Classify)]
enum Derived {
    #[classify(client)]
    NotFound {
        id: u64,
    },
    Unavailable(String),
}

impl fmt::Display for Derived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Derived::NotFound { id } => write!(f, "{id} not found"),
            Derived::Unavailable(w) => write!(f, "{w} unavailable"),
        }
    }
}

impl std::error::Error for Derived {}

#[observed(event = "t.derived", fields(n))]
fn derived(n: u64) -> Result<(), Derived> {
    if n == 0 {
        Err(Derived::NotFound { id: 7 })
    } else {
        Err(Derived::Unavailable("db".into()))
    }
}

#[observed(event = "t.override", err(client))]
fn overridden() -> Result<(), Derived> {
    Err(Derived::Unavailable("cache".into()))
}

#[test]
fn derived_classification_and_attribute_override() {
    setup();
    let _ = derived(0);
    let _ = derived(1);
    let _ = overridden();
    let l = wait_lines(|v| v["event"] == "t.derived.failed", |l| l.len() >= 2);
    assert_eq!(l[0]["outcome"], "client_error");
    assert_eq!(l[0]["error_type"], "NotFound");
    assert_eq!(l[1]["outcome"], "server_error");
    assert_eq!(l[1]["error_type"], "Unavailable");
    let o = by_event("t.override.failed");
    assert_eq!(o[0]["outcome"], "client_error");
    assert_eq!(o[0]["level"], "info");
}

#[observed(event = "t.panics")]
fn panics(n: u32) -> u32 {
    if n > 0 {
        std::panic::panic_any(format!("boom {n}"));
    }
    n
}

#[test]
fn a_panic_is_recorded_and_resumed_unchanged() {
    setup();
    let err = std::panic::catch_unwind(|| panics(3)).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("boom 3")
    );
    let l = by_event("t.panics.failed");
    assert_eq!(l[0]["outcome"], "panic");
    assert_eq!(l[0]["level"], "error");
}

#[observed(event = "t.cancel", tenant)]
async fn never_finishes(tenant: &str) -> u32 {
    let _ = tenant;
    std::future::pending::<()>().await;
    1
}

#[tokio::test]
async fn a_dropped_future_is_recorded_as_cancelled() {
    setup();
    let r = tokio::time::timeout(Duration::from_millis(20), never_finishes("t-cancel")).await;
    assert!(r.is_err());
    let l = by_event("t.cancel.failed");
    assert_eq!(l[0]["outcome"], "cancelled");
    assert_eq!(l[0]["level"], "warn");
    // The record carries the call's context even though it was written on drop.
    assert_eq!(l[0]["tenant_id"], "t-cancel");
}

#[observed(event = "t.inner")]
async fn inner() -> u8 {
    tracing::info!(event = "t.inner.note", step = 2u64, "inside inner");
    tokio::task::yield_now().await;
    1
}

#[observed(event = "t.outer", tenant)]
async fn outer(tenant: String) -> u8 {
    tracing::info!(event = "t.outer.note", "inside outer");
    let a = inner().await;
    let h = observa::spawn(async {
        tracing::info!(event = "t.spawned.note", "in a spawned task");
    });
    h.await.unwrap();
    let plain = tokio::spawn(async {
        tracing::info!(event = "t.plain_spawn.note", "plain tokio::spawn");
    });
    plain.await.unwrap();
    a + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_calls_and_spawned_tasks_share_the_context() {
    setup();
    assert_eq!(outer("t-nested".into()).await, 2);
    let lines = wait_lines(
        |v| v["event"].as_str().is_some_and(|e| e.starts_with("t.")) && v["target"] == "observed",
        |l| l.iter().any(|v| v["event"] == "t.outer.completed"),
    );
    let get = |e: &str| {
        lines
            .iter()
            .find(|v| v["event"] == e)
            .unwrap_or_else(|| panic!("no {e} in {lines:#?}"))
            .clone()
    };
    let outer_done = get("t.outer.completed");
    let cid = outer_done["correlation_id"].clone();
    for e in [
        "t.outer.note",
        "t.inner.note",
        "t.inner.completed",
        "t.spawned.note",
    ] {
        let l = get(e);
        assert_eq!(l["correlation_id"], cid, "{e}");
        assert_eq!(l["tenant_id"], "t-nested", "{e}");
    }
    assert_eq!(get("t.inner.note")["step"], 2);
    assert_eq!(get("t.inner.note")["message"], "inside inner");
    // A task spawned without observa does not inherit (nothing leaks by accident).
    let plain = get("t.plain_spawn.note");
    assert!(plain.get("tenant_id").is_none());
}

#[observed(event = "t.conc", tenant, correlation)]
async fn concurrent(tenant: String, correlation: String, n: u32) -> u32 {
    for i in 0..3 {
        tokio::task::yield_now().await;
        tracing::info!(event = "t.conc.step", i, "step");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_tasks_do_not_bleed() {
    setup();
    let mut handles = Vec::new();
    for n in 0..1000u32 {
        handles.push(tokio::spawn(async move {
            concurrent(format!("tenant-{n}"), format!("corr-{n}"), n).await
        }));
    }
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), n as u32);
    }
    let lines = wait_lines(
        |v| v["event"].as_str().is_some_and(|e| e.starts_with("t.conc")),
        |l| l.len() >= 4000,
    );
    assert_eq!(lines.len(), 4000);
    let mut per: HashMap<String, usize> = HashMap::new();
    for l in &lines {
        let t = l["tenant_id"].as_str().unwrap();
        let c = l["correlation_id"].as_str().unwrap();
        assert_eq!(t.strip_prefix("tenant-"), c.strip_prefix("corr-"), "{l}");
        *per.entry(t.to_owned()).or_default() += 1;
    }
    assert_eq!(per.len(), 1000);
    assert!(per.values().all(|&n| n == 4));
}

#[observed(event = "t.secret", fields(user, password, api_token = token.as_str(), note))]
fn with_secrets(user: &str, password: String, token: String, note: &str) -> usize {
    password.len() + token.len() + user.len() + note.len()
}

#[test]
fn sensitive_names_are_masked_and_text_is_neutralised() {
    setup();
    let note = "a\r\nforged=1\u{1b}[31m\u{202e}";
    let n = with_secrets(
        "u-secret",
        "hunter2-canary".into(),
        "tok-canary".into(),
        note,
    );
    assert_eq!(
        n,
        "u-secret".len() + "hunter2-canary".len() + "tok-canary".len() + note.len()
    );
    let l = wait_lines(|v| v["user"] == "u-secret", |l| !l.is_empty());
    assert_eq!(l[0]["password"], observa::REDACTED);
    assert_eq!(l[0]["api_token"], observa::REDACTED);
    assert_eq!(l[0]["note"], "a\r\nforged=1\u{1b}[31m\u{202e}");
    let raw = log_support::raw();
    assert!(!raw.contains("canary"));
    let line = raw.lines().find(|x| x.contains("u-secret")).unwrap();
    assert!(!line.contains('\u{1b}') && !line.contains('\r') && !line.contains('\u{202e}'));
}

#[observed(event = "t.leak_check")]
fn foreign_secret() {
    tracing::info!(
        password = "pw-canary-2",
        user_id_hint = "ok",
        "third party log"
    );
}

#[test]
fn foreign_events_are_masked_by_key() {
    setup();
    foreign_secret();
    let l = wait_lines(|v| v["user_id_hint"] == "ok", |l| !l.is_empty());
    assert_eq!(l[0]["password"], observa::REDACTED);
    assert!(!log_support::raw().contains("pw-canary-2"));
}

#[observed(event = "t.ret", ret, fields(a))]
fn with_ret(a: u64) -> Result<u64, std::io::Error> {
    Ok(a * 2)
}

/// `ret` alone: the call starts lean (nothing but metrics kept) and becomes a full one when the
/// returned value is recorded.
#[observed(event = "t.ret_only", ret, tenant, metric = "t_ret_only")]
fn ret_only(tenant: &str, a: u64) -> u64 {
    let _ = tenant;
    a + 1
}

#[observed(event = "t.debug_level", level = "debug", metric = "t_debug_calls")]
fn quiet() -> u8 {
    5
}

#[test]
fn ret_and_levels() {
    setup();
    assert_eq!(with_ret(21).unwrap(), 42);
    let l = by_event("t.ret.completed");
    assert_eq!(l[0]["return"], 42);
    assert_eq!(l[0]["a"], 21);
    assert_eq!(quiet(), 5);
    let l = by_event("t.debug_level.completed");
    assert_eq!(l[0]["level"], "debug");
}

#[test]
fn ret_on_a_call_with_nothing_else_to_record() {
    setup();
    assert_eq!(ret_only("t-ret", 7), 8);
    let l = by_event("t.ret_only.completed");
    assert_eq!(l[0]["return"], 8, "{}", l[0]);
    assert_eq!(l[0]["tenant_id"], "t-ret", "{}", l[0]);
    let text = observa::metrics::render();
    assert!(
        text.contains("t_ret_only_in_flight{event=\"t.ret_only\"} 0"),
        "the in-flight gauge is balanced after the upgrade:\n{text}"
    );
    assert!(
        text.contains("t_ret_only_total{event=\"t.ret_only\",outcome=\"ok\"} 1"),
        "counted once:\n{text}"
    );
}

#[observed(event = "t.sampled", sample = 0.25, metric = "t_sampled")]
fn sampled(i: u32) -> u32 {
    i
}

#[test]
fn success_events_are_sampled_but_always_counted() {
    setup();
    for i in 0..2000 {
        sampled(i);
    }
    let text = observa::metrics::render();
    assert!(
        text.contains("t_sampled_total{event=\"t.sampled\",outcome=\"ok\"} 2000"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let n = all_lines()
        .iter()
        .filter(|v| v["event"] == "t.sampled.completed")
        .count();
    assert!((250..=750).contains(&n), "{n} of 2000 logged at 0.25");
}

#[observed(event = "t.metrics", metric = "t_metered", buckets = [0.0042, 0.137, 3.3])]
fn metered(fail: bool) -> Result<(), String> {
    if fail { Err("nope".into()) } else { Ok(()) }
}

#[test]
fn exposition_parses_and_counts_by_outcome() {
    setup();
    for i in 0..10 {
        let _ = metered(i % 5 == 0);
    }
    let text = observa::metrics::render();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("exposition parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape.samples.iter().find_map(|s| {
            if s.metric != name || !labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)) {
                return None;
            }
            Some(match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
        })
    };
    assert_eq!(
        value(
            "t_metered_total",
            &[("event", "t.metrics"), ("outcome", "ok")]
        ),
        Some(8.0)
    );
    assert_eq!(
        value(
            "t_metered_total",
            &[("event", "t.metrics"), ("outcome", "server_error")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value("t_metered_in_flight", &[("event", "t.metrics")]),
        Some(0.0)
    );
    // The custom bounds (none of them a default bound), and only those, plus `+Inf`.
    let bounds: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "t_metered_duration_seconds")
        .flat_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.less_than).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(bounds, [0.0042, 0.137, 3.3, f64::INFINITY], "{text}");
    for le in ["0.0042", "0.137", "3.3", "+Inf"] {
        assert!(
            text.contains(&format!(
                "t_metered_duration_seconds_bucket{{event=\"t.metrics\",le=\"{le}\"}}"
            )),
            "{le}: {text}"
        );
    }
    assert!(!text.contains("t_metered_duration_seconds_bucket{event=\"t.metrics\",le=\"0.005\"}"));
    assert!(text.contains("t_metered_duration_seconds_count{event=\"t.metrics\"} 10"));
}

#[observed(event = "t.inflight", metric = "t_inflight")]
fn in_flight_inside() -> String {
    observa::metrics::render()
}

#[test]
fn the_in_flight_gauge_counts_running_calls() {
    setup();
    let inside = in_flight_inside();
    assert!(
        inside.contains("t_inflight_in_flight{event=\"t.inflight\"} 1"),
        "{inside}"
    );
    let after = observa::metrics::render();
    assert!(
        after.contains("t_inflight_in_flight{event=\"t.inflight\"} 0"),
        "{after}"
    );
    assert!(
        after.contains("# TYPE t_inflight_in_flight gauge"),
        "{after}"
    );
}

#[test]
fn a_second_init_is_an_error() {
    setup();
    let e = observa::init(observa::Config::default()).unwrap_err();
    assert!(matches!(e, observa::InitError::AlreadyInitialized), "{e}");
}
