//! observa's own spans (OTLP on): the span of an `#[observed]` call is recorded by observa, not
//! by `tracing-opentelemetry`. These tests pin how it relates to everything around it: spans and
//! events of other code inside and around it, nested calls, the current OpenTelemetry context,
//! failures, panics, async calls moved between threads, log lines. A real local collector
//! receives the payloads, decoded with the official OpenTelemetry definitions.

use observa::observed;
use opentelemetry::trace::{SpanId, TraceContextExt};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::sync::Mutex;

mod otlp_support;
use otlp_support::{attr, by_name, event_names, hex, one};

/// Span ids seen by the OpenTelemetry API inside the calls, by label.
static SEEN: Mutex<Vec<(&'static str, String)>> = Mutex::new(Vec::new());

fn see(label: &'static str) {
    let id = opentelemetry::Context::map_current(|cx| cx.span().span_context().span_id());
    let id = if id == SpanId::INVALID {
        String::new()
    } else {
        id.to_string()
    };
    SEEN.lock().unwrap().push((label, id));
}

fn seen(label: &str) -> Vec<String> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(l, _)| *l == label)
        .map(|(_, id)| id.clone())
        .collect()
}

#[observed(event = "own.leaf")]
fn leaf() -> u64 {
    tracing::info!(event = "own.leaf.inside", "inside the leaf");
    1
}

#[observed(event = "own.outer", tenant)]
fn outer(tenant: &str) -> u64 {
    see("outer");
    let child = tracing::info_span!("foreign.child");
    let n = child.in_scope(|| {
        tracing::info!(event = "foreign.child.event", "in the child");
        leaf()
    });
    tracing::warn!(event = "own.outer.note", detail = "kept", "a note");
    let _ = tenant;
    n + leaf()
}

#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

#[observed(event = "own.fail")]
fn fail() -> Result<(), Failed> {
    Err(Failed(
        "fetch https://svc:own-canary-pw-5521@db.internal/x failed".into(),
    ))
}

#[observed(event = "own.boom")]
fn boom() {
    see("boom");
    panic!("boom inside an observed call");
}

#[observed(event = "own.async", tenant)]
async fn in_task(tenant: &str) -> u64 {
    see("async.before");
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    see("async.after");
    let _ = tenant;
    leaf()
}

#[test]
fn own_spans_nest_with_other_code_and_carry_their_events() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("own-spans-test").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let guard = observa::init(cfg).unwrap();

    // Inside another crate's span, and nothing left attached after it.
    let parent = tracing::info_span!("foreign.parent");
    assert_eq!(parent.in_scope(|| outer("acme")), 2);
    drop(parent);
    see("after.outer");
    assert!(fail().is_err());
    let caught = std::panic::catch_unwind(boom);
    assert!(caught.is_err());
    see("after.boom");

    // An async call moved between worker threads.
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        mt.block_on(async { tokio::spawn(in_task("globex")).await.unwrap() }),
        1
    );
    // The workers are clean after it: a task on them sees no current span.
    for _ in 0..8 {
        mt.block_on(async { tokio::spawn(async { see("worker.after") }).await.unwrap() });
    }
    drop(mt);
    drop(guard); // flushes the batch

    let spans = otlp_support::spans(&bodies);
    let fparent = one(&spans, "foreign.parent");
    let o = one(&spans, "own.outer");
    let child = one(&spans, "foreign.child");
    let leaves = by_name(&spans, "own.leaf");
    assert_eq!(leaves.len(), 3, "two leaves in outer, one in the task");

    // own.outer is the child of the enclosing foreign span, in its trace.
    assert_eq!(o.trace_id, fparent.trace_id);
    assert_eq!(hex(&o.parent_span_id), hex(&fparent.span_id));
    assert_eq!(attr(&o.attributes, "tenant_id").as_deref(), Some("acme"));
    assert_eq!(attr(&o.attributes, "outcome").as_deref(), Some("ok"));
    // Another crate's span inside the call is its child; a call inside that span is that
    // span's child; a call directly inside is the call's child.
    assert_eq!(hex(&child.parent_span_id), hex(&o.span_id));
    let in_child: Vec<_> = leaves
        .iter()
        .filter(|l| l.parent_span_id == child.span_id)
        .collect();
    let in_outer: Vec<_> = leaves
        .iter()
        .filter(|l| l.parent_span_id == o.span_id)
        .collect();
    assert_eq!(
        (in_child.len(), in_outer.len()),
        (1, 1),
        "leaf (id, parent): {:?}; outer {} child {} parent {}",
        leaves
            .iter()
            .map(|l| (hex(&l.span_id), hex(&l.parent_span_id)))
            .collect::<Vec<_>>(),
        hex(&o.span_id),
        hex(&child.span_id),
        hex(&fparent.span_id)
    );
    assert!(
        leaves
            .iter()
            .all(|l| { event_names(l) == ["own.leaf.inside", "own.leaf.completed"] })
    );

    // The OpenTelemetry context inside the call is the call's span.
    assert_eq!(seen("outer"), [hex(&o.span_id)]);
    assert_eq!(
        seen("after.outer"),
        [String::new()],
        "context left attached"
    );

    // Events: inside the call on the call's span (renamed after their `event`), inside the
    // foreign child on the child, none on the enclosing span.
    assert_eq!(event_names(o), ["own.outer.note", "own.outer.completed"]);
    let note = &o.events[0];
    assert_eq!(attr(&note.attributes, "detail").as_deref(), Some("kept"));
    assert_eq!(attr(&note.attributes, "level").as_deref(), Some("WARN"));
    let done = &o.events[1];
    assert_eq!(attr(&done.attributes, "outcome").as_deref(), Some("ok"));
    assert!(attr(&done.attributes, "duration_ms").is_some());
    assert_eq!(event_names(child), ["foreign.child.event"]);
    assert!(
        fparent.events.is_empty(),
        "events of the call reached the enclosing span: {:?}",
        event_names(fparent)
    );

    // A failure: error status with the error text, scrubbed of URL credentials.
    let f = one(&spans, "own.fail");
    let status = f.status.clone().unwrap_or_default();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(
        status.message.contains("db.internal/x failed"),
        "{status:?}"
    );
    assert!(!status.message.contains("own-canary-pw-5521"), "{status:?}");
    assert_eq!(
        attr(&f.attributes, "outcome").as_deref(),
        Some("server_error")
    );
    assert_eq!(event_names(f), ["own.fail.failed"]);
    assert_eq!(hex(&f.parent_span_id), "", "a root: nothing was attached");
    otlp_support::assert_no_piece(&bodies, &["own-canary-pw-5521"]);

    // A panic: exported as such, and its context detached while unwinding.
    let b = one(&spans, "own.boom");
    assert_eq!(attr(&b.attributes, "outcome").as_deref(), Some("panic"));
    assert_eq!(seen("boom"), [hex(&b.span_id)]);
    assert_eq!(
        seen("after.boom"),
        [String::new()],
        "context left by a panic"
    );

    // The async call: its span around every poll, on whichever worker ran it.
    let a = one(&spans, "own.async");
    assert_eq!(attr(&a.attributes, "tenant_id").as_deref(), Some("globex"));
    assert_eq!(seen("async.before"), [hex(&a.span_id)]);
    assert_eq!(seen("async.after"), [hex(&a.span_id)]);
    let task_leaf = leaves
        .iter()
        .find(|l| l.parent_span_id == a.span_id)
        .expect("the leaf in the task is the async call's child");
    assert_eq!(task_leaf.trace_id, a.trace_id);
    assert!(
        seen("worker.after").iter().all(String::is_empty),
        "a worker kept the call's context: {:?}",
        seen("worker.after")
    );

    // Log lines carry the ids of the innermost span: the call's, or the foreign child's.
    let lines: Vec<serde_json::Value> = logs
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let line = |event: &str| {
        lines
            .iter()
            .find(|v| v["event"] == event)
            .unwrap_or_else(|| panic!("no line {event}"))
    };
    let note_line = line("own.outer.note");
    assert_eq!(note_line["trace_id"], hex(&o.trace_id));
    assert_eq!(note_line["span_id"], hex(&o.span_id));
    assert_eq!(line("foreign.child.event")["span_id"], hex(&child.span_id));
    assert_eq!(line("own.outer.completed")["span_id"], hex(&o.span_id));
}
