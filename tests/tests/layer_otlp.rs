//! observa's layer with its OTLP exporter on, in a registry beside another layer: the spans
//! reach a real local collector (decoded with the official protobuf definitions), observa's
//! lines inside a span carry its ids (the OpenTelemetry context is found through the user's
//! registry), and the other layer sees the spans too.

use axum::{Router, body::Bytes, extract::State, routing::post};
use observa::observed;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

#[observed(event = "lo.work", tenant)]
fn work(tenant: &str) -> usize {
    tracing::info!(event = "lo.inside", "inside the span");
    tenant.len()
}

#[derive(Clone, Default)]
struct SpanCount(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanCount {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == "lo.work" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn spans_are_exported_and_lines_carry_their_ids_through_the_layer() {
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(b): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                    b.lock().unwrap().push(body);
                    ""
                },
            ),
        )
        .with_state(bodies.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("layer-otlp").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let (layer, guard) = observa::layer(cfg).expect("layer");
    let spans_seen = SpanCount::default();
    let subscriber = tracing_subscriber::registry()
        .with(spans_seen.clone())
        .with(layer);
    tracing::subscriber::set_global_default(subscriber).unwrap();

    assert_eq!(work("acme"), 4);
    drop(guard); // shuts the provider down: the batch is exported

    assert_eq!(spans_seen.0.load(Ordering::SeqCst), 1);
    let mut spans = Vec::new();
    for b in bodies.lock().unwrap().iter() {
        let req = ExportTraceServiceRequest::decode(b.as_ref()).expect("OTLP protobuf");
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
    }
    // Exported once: observa's own span; the `tracing` span made for the counting layer is
    // hidden from observa's exporter (it would be a second `lo.work`).
    assert_eq!(
        spans.iter().filter(|s| s.name == "lo.work").count(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let span = spans
        .iter()
        .find(|s| s.name == "lo.work")
        .expect("exported span");
    let completions = logs
        .contents()
        .lines()
        .filter(|l| l.contains("\"lo.work.completed\""))
        .count();
    assert_eq!(completions, 1, "one completion line");
    let line = logs
        .contents()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "lo.inside")
        .expect("inner line");
    assert_eq!(line["trace_id"], hex(&span.trace_id));
    assert_eq!(line["span_id"], hex(&span.span_id));
    assert_eq!(line["tenant_id"], "acme");
}
