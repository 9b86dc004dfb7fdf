//! Sampling of observa's own spans (OTLP on, sample ratio 0): a root call is not exported and
//! neither is anything inside it, yet its log lines carry its ids; a call continuing a sampled
//! `traceparent` is exported with everything inside it. A real local collector.

use observa::observed;

mod otlp_support;
use otlp_support::hex;

#[observed(event = "sampling.inner")]
fn inner() {
    tracing::info!(event = "sampling.inner.line", "inside");
}

#[observed(event = "sampling.root")]
fn root() {
    let s = tracing::info_span!("sampling.foreign");
    s.in_scope(inner);
}

#[test]
fn ratio_zero_drops_root_calls_and_their_children_but_keeps_continued_sampled_traces() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("own-sampling-test").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    cfg.otlp_sample_ratio = 0.0;
    let guard = observa::init(cfg).unwrap();

    for _ in 0..20 {
        root();
    }
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    observa::Context::new()
        .with_traceparent(format!("00-{trace_id}-b7ad6b7169203331-01"))
        .scope(root);
    drop(guard);

    let spans = otlp_support::spans(&bodies);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    // Only the continued trace: one root, its foreign child, the call inside that.
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) == trace_id),
        "{names:?}"
    );
    let root_span = spans.iter().find(|s| s.name == "sampling.root").unwrap();
    assert_eq!(hex(&root_span.parent_span_id), "b7ad6b7169203331");

    // Every line inside a call carries trace ids, sampled or not; the unsampled ones are of
    // 20 distinct traces.
    let lines: Vec<serde_json::Value> = logs
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == "sampling.inner.line")
        .collect();
    assert_eq!(lines.len(), 21);
    let mut traces: Vec<&str> = lines
        .iter()
        .map(|v| v["trace_id"].as_str().expect("trace_id on every line"))
        .collect();
    assert!(lines.iter().all(|v| v["span_id"].as_str().is_some()));
    assert_eq!(traces.pop(), Some(trace_id));
    traces.sort_unstable();
    traces.dedup();
    assert_eq!(traces.len(), 20);
}
