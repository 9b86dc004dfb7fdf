//! A call's span box and its recording are reused by the thread's next call
//! (`runtime/src/trace/own.rs`, issue #14), the recording only when nothing else holds it. What
//! must not follow from the reuse: a context kept by user code after its call writing into a
//! later call's span, or a later call taking an earlier one's sampling decision. A real local
//! collector.

use observa::observed;
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use std::cell::RefCell;

mod otlp_support;
use otlp_support::{attr, by_name, event_names, hex};

thread_local! {
    static KEPT: RefCell<Option<opentelemetry::Context>> = const { RefCell::new(None) };
}

/// Keeps its own context past its end, as code that stores `Context::current()` does.
#[observed(event = "reuse.keeper")]
fn keeper() {
    KEPT.with(|k| *k.borrow_mut() = Some(opentelemetry::Context::current()));
}

/// Writes through the kept context while it runs: those writes belong to the keeper's span
/// (ended: dropped), never to this one.
#[observed(event = "reuse.after")]
fn after(i: u64) -> u64 {
    KEPT.with(|k| {
        if let Some(cx) = k.borrow().as_ref() {
            cx.span()
                .set_attribute(KeyValue::new("late.write", "from-the-kept-context"));
            cx.span().add_event("late.event", vec![]);
        }
    });
    i + 1
}

/// Whether the current span records exactly when it is sampled.
#[observed(event = "reuse.probe")]
fn probe() -> bool {
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    span.is_recording() == span.span_context().is_sampled()
}

#[test]
fn a_reused_span_takes_nothing_from_the_call_before() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let mut cfg = observa::Config::new("span-reuse-test").with_writer(observa::MemoryWriter::new());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    cfg.otlp_sample_ratio = 0.5;
    let guard = observa::init(cfg).unwrap();

    // Sampled and unsampled roots in turn on one thread: each records as its own decision.
    for _ in 0..400 {
        assert!(probe(), "a span recording against its sampling decision");
    }

    // A sampled trace (parent-based: every call in it is sampled): the keeper keeps its
    // context, the calls after it write through that context.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    observa::Context::new()
        .with_traceparent(format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .scope(|| {
            keeper();
            for i in 0..5 {
                assert_eq!(after(i), i + 1);
            }
        });
    KEPT.with(|k| k.borrow_mut().take());
    drop(guard);

    let spans = otlp_support::spans(&bodies);
    let probes = by_name(&spans, "reuse.probe");
    // About half of 400 at ratio 0.5: both decisions were taken on this thread.
    assert!(
        (100..=300).contains(&probes.len()),
        "sampled probes: {}",
        probes.len()
    );
    let afters = by_name(&spans, "reuse.after");
    assert_eq!(afters.len(), 5);
    for s in &afters {
        assert_eq!(hex(&s.trace_id), trace_id);
        assert_eq!(attr(&s.attributes, "late.write"), None, "{s:?}");
        assert_eq!(event_names(s), ["reuse.after.completed"], "{s:?}");
    }
    let keepers = by_name(&spans, "reuse.keeper");
    assert_eq!(keepers.len(), 1);
    assert_eq!(event_names(keepers[0]), ["reuse.keeper.completed"]);
}
