//! Own spans ended faster than they can be queued for export are dropped at observa's pipe
//! (`runtime/src/trace/own.rs`, bounded like the SDK's queue, `OTEL_BSP_MAX_QUEUE_SIZE`):
//! counted in `observa_spans_dropped_total`, with one WARN `observa.spans_dropped` line; the
//! calls themselves are unaffected, and spans that were queued are still exported.

use observa::observed;
use serde_json::Value;

mod log_support;
mod otlp_support;
use otlp_support::by_name;

#[observed(event = "full.call")]
fn call(i: u64) -> u64 {
    i + 1
}

#[test]
fn a_full_pipe_drops_counts_and_warns_once() {
    // Before anything else runs in this process (one test in this file): the pipe and the
    // SDK's queue hold 4 spans, the pipe's thread drains every 20 ms.
    unsafe { std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "4") };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("pipe-full-test").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let guard = observa::init(cfg).unwrap();

    for i in 0..2000 {
        assert_eq!(call(i), i + 1, "the app is unaffected");
    }
    let dropped = log_support::sample(&observa::metrics::render(), "observa_spans_dropped_total ");
    assert!(dropped >= 1.0, "dropped {dropped}");
    drop(guard);

    let warns: Vec<Value> = logs
        .contents()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "observa.spans_dropped")
        .collect();
    assert_eq!(warns.len(), 1, "one WARN line: {warns:?}");
    assert_eq!(warns[0]["level"], "warn");
    let spans = otlp_support::spans(&bodies);
    let got = by_name(&spans, "full.call").len();
    assert!(
        got >= 1 && (got as f64) <= 2000.0 - dropped,
        "exported {got}, dropped {dropped}"
    );
}
