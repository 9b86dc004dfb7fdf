//! Edges of observa's own spans (OTLP on), each found by attacking them: an outbound call in a
//! job that continues a `traceparent`, a call with thousands of events, a failing call too quiet
//! to have a span of its own, writes through the OpenTelemetry API, a task spawned inside a
//! call, `started` and explicit-root events. A real local collector and a real HTTP server.

use observa::http::outbound::Client;
use observa::observed;
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

mod otlp_support;
use otlp_support::{attr, event_names, hex, one};

#[observed(event = "edge.fetch")]
async fn fetch(client: &Client, url: &str) -> u16 {
    client
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[observed(event = "edge.chatty")]
fn chatty(n: u32) {
    for i in 0..n {
        tracing::info!(event = "edge.chatty.step", i, "step");
    }
}

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("quiet failure")
    }
}

impl std::error::Error for Failed {}

/// Below the configured level (`info`): no span of its own, but its failure line is written at
/// ERROR and belongs on the enclosing call's span.
#[observed(event = "edge.quiet", level = "debug")]
fn quiet() -> Result<(), Failed> {
    Err(Failed)
}

#[observed(event = "edge.holder")]
fn holder() {
    let _ = quiet();
}

#[observed(event = "edge.api")]
fn through_the_api() {
    let cx = opentelemetry::Context::current();
    cx.span()
        .set_attribute(KeyValue::new("api.attribute", "set-through-otel"));
    cx.span()
        .add_event("api.event", vec![KeyValue::new("k", 7)]);
}

#[observed(event = "edge.child")]
async fn child() -> u8 {
    3
}

#[observed(event = "edge.parent")]
async fn parent() -> u8 {
    // A plain task (no call of its own) and a blocking closure spawned inside: their lines
    // carry this call's ids.
    observa::context::spawn(async { tracing::info!(event = "edge.spawned.line", "in a task") })
        .await
        .unwrap();
    observa::context::spawn_blocking(|| tracing::info!(event = "edge.blocking.line", "blocking"))
        .await
        .unwrap();
    observa::context::spawn_thread(|| tracing::info!(event = "edge.thread.line", "thread"))
        .join()
        .unwrap();
    observa::context::spawn(child()).await.unwrap()
}

/// Text through the OpenTelemetry API and another crate's span status, with URL credentials.
#[observed(event = "edge.status")]
fn status_through_the_api() {
    use opentelemetry::trace::Status;
    let cx = opentelemetry::Context::current();
    cx.span().set_status(Status::error(
        "GET https://svc:edge-status-canary-7731@db.internal/x failed",
    ));
    cx.span()
        .update_name("renamed https://svc:edge-name-canary-8842@db.internal/y");
}

/// A value whose `Debug` logs and makes an `#[observed]` call: formatted while observa records
/// the event that carries it on an own span.
struct Noisy;

impl std::fmt::Debug for Noisy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!(event = "edge.noisy.inner", "from Debug");
        leafy();
        f.write_str("noisy")
    }
}

#[observed(event = "edge.leafy")]
fn leafy() {}

#[observed(event = "edge.reentrant")]
fn reentrant() {
    tracing::info!(event = "edge.noisy", value = ?Noisy, "noisy");
}

#[observed(event = "edge.started", started)]
fn with_started() {
    tracing::info!(event = "edge.started.inside", "inside");
    tracing::info!(parent: None, event = "edge.rootless", "explicit root");
}

#[test]
fn own_spans_hold_at_their_edges() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("own-edges-test").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let guard = observa::init(cfg).unwrap();

    // A server for the outbound call: answers 204.
    let server = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
            axum::serve(l, app).await.unwrap();
        });
        a
    });
    let client = Client::new(reqwest::Client::new()).provider("edge");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let url = format!("http://{server}/ping");
    let status = rt.block_on(
        observa::Context::new()
            .with_traceparent(format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .wrap(fetch(&client, &url)),
    );
    assert_eq!(status, 204);

    chatty(1000);
    // Inside another crate's span: the quiet call's failure stays off it.
    tracing::info_span!("edge.foreign").in_scope(holder);
    status_through_the_api();
    tracing::info_span!(
        "edge.foreign_status",
        otel.status_code = "ERROR",
        otel.status_message = "POST https://svc:edge-foreign-canary-9953@api.internal/z failed"
    )
    .in_scope(|| {});
    through_the_api();
    assert_eq!(rt.block_on(parent()), 3);
    with_started();
    reentrant();
    drop(guard);

    let spans = otlp_support::spans(&bodies);

    // The outbound call's span is the child of the call it is made in, in the continued trace.
    let f = one(&spans, "edge.fetch");
    assert_eq!(hex(&f.trace_id), trace_id);
    assert_eq!(hex(&f.parent_span_id), "00f067aa0ba902b7");
    let c = spans
        .iter()
        .find(|s| s.name.starts_with("GET"))
        .expect("client span");
    assert_eq!(
        hex(&c.parent_span_id),
        hex(&f.span_id),
        "client span parent"
    );

    // Events per span are capped (the SDK's default limit, 128), the rest counted.
    let ch = one(&spans, "edge.chatty");
    assert_eq!(ch.events.len(), 128);
    assert_eq!(ch.dropped_events_count, 1000 + 1 - 128);
    assert_eq!(
        ch.events.last().map(|e| e.name.as_str()),
        Some("edge.chatty.step"),
        "the first events are kept"
    );

    // A failing call without a span of its own: its failure is on the enclosing call's span,
    // and not on the other crate's span around that.
    let h = one(&spans, "edge.holder");
    let foreign = one(&spans, "edge.foreign");
    assert_eq!(hex(&h.parent_span_id), hex(&foreign.span_id));
    assert!(foreign.events.is_empty(), "{:?}", event_names(foreign));
    assert_ne!(
        foreign.status.clone().unwrap_or_default().code,
        StatusCode::Error as i32,
        "the enclosing span was marked by an event that is not its"
    );
    assert!(spans.iter().all(|s| s.name != "edge.quiet"));
    assert_eq!(
        event_names(h),
        ["edge.quiet.failed", "edge.holder.completed"]
    );
    assert_eq!(
        h.status.clone().unwrap_or_default().code,
        StatusCode::Error as i32,
        "an ERROR event inside marks the span"
    );

    // Writes through the OpenTelemetry API reach the call's span.
    let api = one(&spans, "edge.api");
    assert_eq!(
        attr(&api.attributes, "api.attribute").as_deref(),
        Some("set-through-otel")
    );
    assert_eq!(event_names(api), ["api.event", "edge.api.completed"]);

    // A task spawned with observa's spawn inside a call is its child, and lines in spawned
    // tasks carry the call's ids.
    let p = one(&spans, "edge.parent");
    let ch = one(&spans, "edge.child");
    assert_eq!(hex(&ch.parent_span_id), hex(&p.span_id));
    assert_eq!(ch.trace_id, p.trace_id);
    let lines: Vec<serde_json::Value> = logs
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for event in [
        "edge.spawned.line",
        "edge.blocking.line",
        "edge.thread.line",
    ] {
        let line = lines
            .iter()
            .find(|v| v["event"] == event)
            .unwrap_or_else(|| panic!("no line {event}"));
        assert_eq!(line["span_id"], hex(&p.span_id), "{event}");
        assert_eq!(line["trace_id"], hex(&p.trace_id), "{event}");
    }

    // Status messages and names are scrubbed of URL credentials like every exported text.
    otlp_support::assert_no_piece(
        &bodies,
        &[
            "edge-status-canary-7731",
            "edge-name-canary-8842",
            "edge-foreign-canary-9953",
        ],
    );
    let st = spans
        .iter()
        .find(|s| s.name.starts_with("renamed"))
        .expect("the renamed span");
    assert!(
        st.status
            .clone()
            .unwrap_or_default()
            .message
            .contains("db.internal/x failed")
    );

    // Events in the order they happened; an explicit root event is nobody's.
    let st = one(&spans, "edge.started");
    assert_eq!(
        event_names(st),
        [
            "edge.started.started",
            "edge.started.inside",
            "edge.started.completed"
        ]
    );
    assert!(
        spans
            .iter()
            .all(|s| !event_names(s).contains(&"edge.rootless"))
    );
}
