//! Span records are reused (`runtime/src/trace/own.rs`, issue #14): a record the pipe's thread
//! emptied, or one dropped because the pipe was full, is the next span's record. A reused
//! record carries nothing of the span before it: its events, attributes, error, status, name,
//! fields or times. Rich failing calls, then plain calls, back to back into a pipe of 4 (most
//! spans dropped, their records reused at once) and with pauses (records handed back by the
//! pipe's thread); a real local collector.

use observa::observed;
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod otlp_support;
use otlp_support::{attr, by_name, event_names};

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused-reuse-canary")
    }
}

impl std::error::Error for Refused {}

/// Everything a span can hold: a recorded field, an attribute, an event and a new name through
/// the API, an ERROR line inside, and a failure.
#[observed(event = "reuse.rich", fields(order_id))]
fn rich(order_id: u64) -> Result<u64, Refused> {
    let cx = opentelemetry::Context::current();
    cx.span()
        .set_attribute(KeyValue::new("api.attribute", "rich-only"));
    cx.span()
        .add_event("api.event", vec![KeyValue::new("k", 7)]);
    cx.span().update_name("reuse.renamed");
    tracing::error!(event = "reuse.inner_error", "inside the rich call");
    let _ = order_id;
    Err(Refused)
}

#[observed(event = "reuse.plain")]
fn plain(i: u64) -> u64 {
    i + 1
}

fn nanos(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap()
}

#[test]
fn a_reused_record_carries_nothing_of_the_span_before() {
    // Before anything else runs in this process (one test in this file): the pipe holds 4
    // spans, so most records of a burst are dropped there and reused by the next call.
    unsafe { std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "4") };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let mut cfg = observa::Config::new("pipe-reuse-test").with_writer(observa::MemoryWriter::new());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let guard = observa::init(cfg).unwrap();

    // Rounds of rich calls then plain calls; the pauses let the pipe's thread drain and hand
    // the emptied records back.
    let mut plain_from = u64::MAX;
    for round in 0..5u64 {
        for i in 0..400 {
            assert!(rich(i).is_err());
        }
        std::thread::sleep(Duration::from_millis(60));
        let from = nanos(SystemTime::now());
        plain_from = plain_from.min(from);
        for i in 0..400 {
            assert_eq!(plain(round * 1000 + i), round * 1000 + i + 1);
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    drop(guard);

    let spans = otlp_support::spans(&bodies);
    let rich_spans = by_name(&spans, "reuse.renamed");
    let plain_spans = by_name(&spans, "reuse.plain");
    assert!(!rich_spans.is_empty(), "no rich span exported");
    assert!(
        plain_spans.len() >= 10,
        "plain spans exported: {}",
        plain_spans.len()
    );
    assert_eq!(
        spans.len(),
        rich_spans.len() + plain_spans.len(),
        "only the two names: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    // The rich spans hold what the plain ones must not.
    for s in &rich_spans {
        assert_eq!(
            event_names(s),
            ["api.event", "reuse.inner_error", "reuse.rich.failed"]
        );
        assert_eq!(
            attr(&s.attributes, "api.attribute").as_deref(),
            Some("rich-only")
        );
        assert!(attr(&s.attributes, "order_id").is_some());
        assert_eq!(
            attr(&s.attributes, "error").as_deref(),
            Some("refused-reuse-canary")
        );
        assert_eq!(s.status.as_ref().unwrap().code, StatusCode::Error as i32);
    }

    for s in &plain_spans {
        assert_eq!(event_names(s), ["reuse.plain.completed"], "{s:?}");
        for key in ["api.attribute", "order_id", "error"] {
            assert_eq!(attr(&s.attributes, key), None, "{key} in {s:?}");
        }
        assert_eq!(attr(&s.attributes, "outcome").as_deref(), Some("ok"));
        let code = s.status.as_ref().map_or(0, |st| st.code);
        assert_eq!(code, StatusCode::Unset as i32, "{s:?}");
        assert_eq!(s.dropped_attributes_count, 0);
        assert_eq!(s.dropped_events_count, 0);
        assert!(s.links.is_empty());
        assert!(
            s.start_time_unix_nano >= plain_from,
            "a start time from before the plain calls: {s:?}"
        );
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        assert!(s.parent_span_id.is_empty(), "a root call: {s:?}");
    }

    // Every span has ids of its own.
    let mut ids: Vec<&Vec<u8>> = spans.iter().map(|s| &s.span_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), spans.len(), "a span id exported twice");
}
