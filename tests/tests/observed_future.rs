//! `#[observed]` on functions that return a future without being `async fn`: `impl Future`, a
//! spelled-out `Pin<Box<dyn Future>>`, and a boxed-future type alias with `#[observed(future)]`.
//! The call lasts until the returned future completes and its outcome is the future's output:
//! the lines are read back from the real pipeline, the gauges from the exposition.

use observa::observed;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::oneshot;

mod log_support;
use log_support::wait_lines;

fn setup() {
    log_support::capture("observed-future-tests", "info");
}

/// What users import from `futures`: a boxed future behind an alias.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug)]
struct DbError;

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset")
    }
}

impl std::error::Error for DbError {}

/// The slow part: waits for the gate, then sleeps, then fails or not.
async fn work(gate: oneshot::Receiver<()>, fail: bool) -> Result<u32, DbError> {
    let _ = gate.await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    if fail { Err(DbError) } else { Ok(7) }
}

#[observed(event = "fut.impl", metric = "fut_impl", tenant, fields(id))]
fn via_impl(
    tenant: &str,
    id: u64,
    gate: oneshot::Receiver<()>,
    fail: bool,
) -> impl Future<Output = Result<u32, DbError>> + Send + use<> {
    // The function's own code runs inside the call: it sees the bound tenant.
    let seen = observa::context::tenant_id().map(|t| t.to_string());
    assert_eq!(seen.as_deref(), Some("t-fut"));
    let _ = id;
    async move {
        // And so does the future, on every poll.
        assert_eq!(
            observa::context::tenant_id()
                .map(|t| t.to_string())
                .as_deref(),
            Some("t-fut")
        );
        work(gate, fail).await
    }
}

#[observed(event = "fut.boxed", metric = "fut_boxed")]
fn via_pin_box<'a>(
    name: &'a str,
    gate: oneshot::Receiver<()>,
    fail: bool,
) -> Pin<Box<dyn Future<Output = Result<u32, DbError>> + Send + 'a>> {
    let _ = name;
    Box::pin(work(gate, fail))
}

#[observed(event = "fut.alias", metric = "fut_alias", future)]
fn via_alias(gate: oneshot::Receiver<()>, fail: bool) -> BoxFuture<'static, Result<u32, DbError>> {
    if fail {
        return Box::pin(work(gate, true));
    }
    Box::pin(work(gate, false))
}

#[observed(event = "fut.unpin", metric = "fut_unpin")]
fn via_unpin(gate: oneshot::Receiver<()>) -> impl Future<Output = Result<u32, DbError>> + Unpin {
    Box::pin(work(gate, true))
}

struct Repo {
    name: String,
}

#[observed(event = "fut.repo")]
impl Repo {
    #[observed(metric = "fut_repo")]
    fn load(&self, gate: oneshot::Receiver<()>) -> impl Future<Output = Result<u32, DbError>> + '_ {
        async move {
            let _ = &self.name;
            work(gate, true).await
        }
    }
}

fn gauge(family: &str, event: &str) -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == family && s.labels.get("event") == Some(event))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no {family}{{event={event:?}}} in:\n{text}"))
}

fn lines(event: &str, n: usize) -> Vec<Value> {
    wait_lines(|v| v["event"] == event, |l| l.len() >= n)
}

/// Runs `fut` (gated) to completion, checking that the call is in flight until the gate opens:
/// the call ends when the future completes, not when the function returns it.
async fn drive<F: Future<Output = Result<u32, DbError>>>(
    family: &str,
    event: &str,
    make: impl FnOnce(oneshot::Receiver<()>) -> F,
) -> Result<u32, DbError> {
    let (tx, rx) = oneshot::channel();
    let fut = make(rx);
    let inflight = format!("{family}_in_flight");
    assert_eq!(gauge(&inflight, event), 1.0, "started when called");
    let handle = async move {
        // The future is polled, parked on the gate: still in flight, nothing counted.
        tokio::task::yield_now().await;
        assert_eq!(gauge(&inflight, event), 1.0, "in flight while pending");
        let _ = tx.send(());
    };
    let (out, ()) = tokio::join!(fut, handle);
    out
}

fn assert_failed(l: &Value, event: &str) {
    assert_eq!(l["event"], format!("{event}.failed"), "{l}");
    assert_eq!(l["outcome"], "server_error", "{l}");
    assert_eq!(l["error"], "connection reset", "{l}");
    assert_eq!(l["error_type"], "DbError", "{l}");
    // The future slept 30 ms after the gate opened: the duration is the future's, not the
    // ~0 ms of building it (a lower bound the sleep guarantees, not a timing assertion).
    assert!(l["duration_ms"].as_f64().unwrap() >= 30.0, "{l}");
}

#[tokio::test]
async fn an_impl_future_is_instrumented_until_it_completes() {
    setup();
    let out = drive("fut_impl", "fut.impl", |g| via_impl("t-fut", 41, g, true)).await;
    assert!(out.is_err());
    let out = drive("fut_impl", "fut.impl", |g| via_impl("t-fut", 42, g, false)).await;
    assert_eq!(out.unwrap(), 7);
    let l = lines("fut.impl.failed", 1);
    assert_failed(&l[0], "fut.impl");
    assert_eq!(l[0]["tenant_id"], "t-fut");
    // Fields are read when the function is called, before the arguments move into the future.
    assert_eq!(l[0]["id"], 41);
    let ok = lines("fut.impl.completed", 1);
    assert_eq!(ok[0]["outcome"], "ok");
    assert_eq!(ok[0]["id"], 42);
    assert_eq!(gauge("fut_impl_in_flight", "fut.impl"), 0.0);
}

#[tokio::test]
async fn a_spelled_out_boxed_future_is_instrumented() {
    setup();
    let out = drive("fut_boxed", "fut.boxed", |g| via_pin_box("n", g, true)).await;
    assert!(out.is_err());
    assert_failed(&lines("fut.boxed.failed", 1)[0], "fut.boxed");
    assert_eq!(gauge("fut_boxed_in_flight", "fut.boxed"), 0.0);
}

#[tokio::test]
async fn a_boxed_future_alias_with_future_is_instrumented() {
    setup();
    let out = drive("fut_alias", "fut.alias", |g| via_alias(g, true)).await;
    assert!(out.is_err());
    assert_failed(&lines("fut.alias.failed", 1)[0], "fut.alias");
    let out = drive("fut_alias", "fut.alias", |g| via_alias(g, false)).await;
    assert_eq!(out.unwrap(), 7);
    assert_eq!(lines("fut.alias.completed", 1)[0]["outcome"], "ok");
    assert_eq!(gauge("fut_alias_in_flight", "fut.alias"), 0.0);
}

#[tokio::test]
async fn an_unpin_future_and_a_method_future_are_instrumented() {
    setup();
    assert!(drive("fut_unpin", "fut.unpin", via_unpin).await.is_err());
    assert_failed(&lines("fut.unpin.failed", 1)[0], "fut.unpin");
    let repo = Repo { name: "r".into() };
    assert!(
        drive("fut_repo", "fut.repo.load", |g| repo.load(g))
            .await
            .is_err()
    );
    assert_failed(&lines("fut.repo.load.failed", 1)[0], "fut.repo.load");
}

#[observed(event = "fut.dropped", metric = "fut_dropped", fields(id))]
fn dropped(id: u64, gate: oneshot::Receiver<()>) -> impl Future<Output = Result<u32, DbError>> {
    work(gate, false)
}

#[tokio::test]
async fn a_returned_future_dropped_unpolled_is_cancelled() {
    setup();
    let (_tx, rx) = oneshot::channel();
    let fut = dropped(43, rx);
    assert_eq!(gauge("fut_dropped_in_flight", "fut.dropped"), 1.0);
    drop(fut);
    assert_eq!(gauge("fut_dropped_in_flight", "fut.dropped"), 0.0);
    let l = lines("fut.dropped.failed", 1);
    assert_eq!(l[0]["outcome"], "cancelled", "{}", l[0]);
    assert_eq!(l[0]["id"], 43);
}
