//! The fast path of async calls (`context::FreshCall`, issue #14): an `#[observed(tenant)]`
//! async fn that starts where the poller's context is empty enters its context on each poll
//! without building, copying or exchanging a `Context`, and keeps the context whole from the
//! first poll that reads or changes it. Each test attacks one promise of the slower path it
//! replaces: the same correlation id on every poll and on the line, values bound inside kept
//! across polls, nothing left on the poller's thread, polls in another context, on another
//! thread, interleaved with another call, a panic, a cancellation.

use observa::context::{self, Context};
use observa::observed;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context as TaskContext, Poll, Waker};

mod log_support;

use log_support::{Seen, YieldOnce, poll_once, seen, wait_lines};

fn setup() {
    log_support::capture("async-fresh-tests", "info");
}

fn empty() -> Seen {
    Seen {
        tenant: None,
        user: None,
        correlation: None,
        fields: Vec::new(),
    }
}

fn ready<F: Future>(f: Pin<&mut F>) -> F::Output {
    match poll_once(f) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected the call to complete on this poll"),
    }
}

/// The one line of `event` for `tenant`.
fn line(event: &str, tenant: &str) -> serde_json::Value {
    let lines = wait_lines(
        |v| v["event"] == event && v["tenant_id"] == tenant,
        |l| !l.is_empty(),
    );
    assert_eq!(lines.len(), 1, "{event} for {tenant}: {lines:?}");
    lines.into_iter().next().unwrap()
}

#[observed(event = "fresh.read_twice", tenant)]
async fn read_twice(tenant: &str) -> (Seen, Seen) {
    let first = seen();
    YieldOnce(false).await;
    (first, seen())
}

#[test]
fn the_correlation_id_read_on_one_poll_is_the_id_of_every_later_poll_and_of_the_line() {
    setup();
    let mut fut = std::pin::pin!(read_twice("t-fresh-twice"));
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(seen(), empty(), "nothing left on the poller between polls");
    let (first, second) = ready(fut.as_mut());
    assert_eq!(seen(), empty(), "nothing left on the poller after the call");
    assert_eq!(first.tenant.as_deref(), Some("t-fresh-twice"));
    let id = first.correlation.clone().expect("a correlation id");
    assert_eq!(second, first, "the same context on the second poll");
    let l = line("fresh.read_twice.completed", "t-fresh-twice");
    assert_eq!(l["correlation_id"], id.as_str());
}

#[observed(event = "fresh.binds", tenant)]
async fn binds(tenant: &str) -> Seen {
    context::bind(None, Some("u-fresh"));
    YieldOnce(false).await;
    seen()
}

#[test]
fn a_value_bound_inside_a_poll_is_kept_on_later_polls_and_on_the_line_only() {
    setup();
    let mut fut = std::pin::pin!(binds("t-fresh-binds"));
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(seen(), empty(), "the bound user stayed inside the call");
    let after = ready(fut.as_mut());
    assert_eq!(after.tenant.as_deref(), Some("t-fresh-binds"));
    assert_eq!(after.user.as_deref(), Some("u-fresh"));
    assert_eq!(seen(), empty());
    let l = line("fresh.binds.completed", "t-fresh-binds");
    assert_eq!(l["user_id"], "u-fresh");
    assert_eq!(l["correlation_id"], after.correlation.unwrap().as_str());
}

#[observed(event = "fresh.silent", tenant)]
async fn silent(tenant: &str, x: u64) -> u64 {
    YieldOnce(false).await;
    x + 1
}

#[test]
fn a_call_whose_polls_read_nothing_still_writes_its_tenant_and_a_correlation_id() {
    setup();
    let mut fut = std::pin::pin!(silent("t-fresh-silent", 41));
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(ready(fut.as_mut()), 42);
    assert_eq!(seen(), empty());
    let l = line("fresh.silent.completed", "t-fresh-silent");
    let id = l["correlation_id"].as_str().expect("a correlation id");
    assert_eq!(id.len(), 32, "{l}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{l}");
}

#[observed(event = "fresh.late_read", tenant)]
async fn late_read(tenant: &str) -> Seen {
    YieldOnce(false).await;
    seen()
}

#[test]
fn a_later_poll_inside_another_context_sees_the_calls_own_and_leaves_the_other_as_it_was() {
    setup();
    let mut fut = std::pin::pin!(late_read("t-fresh-own"));
    // Started (and entered) where the thread's context is empty.
    assert!(poll_once(fut.as_mut()).is_pending());
    let outer = Context::new()
        .with_tenant_id("t-outer")
        .with_correlation_id("outer-corr");
    let (inside, around) = outer.scope(|| {
        let before = seen();
        let inside = ready(fut.as_mut());
        assert_eq!(
            seen(),
            before,
            "the poll left the poller's context as it was"
        );
        (inside, before)
    });
    assert_eq!(around.tenant.as_deref(), Some("t-outer"));
    assert_eq!(inside.tenant.as_deref(), Some("t-fresh-own"));
    assert_eq!(inside.user, None);
    let id = inside.correlation.expect("the call's own correlation id");
    assert_ne!(id, "outer-corr", "not the poller's correlation id");
    assert_eq!(seen(), empty());
    let l = line("fresh.late_read.completed", "t-fresh-own");
    assert_eq!(l["correlation_id"], id.as_str());
}

static PANICKED_SEEN: Mutex<Option<Seen>> = Mutex::new(None);

#[observed(event = "fresh.panics", tenant)]
async fn panics(tenant: &str) -> u32 {
    let s = seen();
    *PANICKED_SEEN.lock().unwrap() = Some(s.clone());
    YieldOnce(false).await;
    if s.tenant.is_some() {
        panic!("fresh boom");
    }
    1
}

#[test]
fn a_panicking_poll_records_the_panic_in_the_calls_context_and_leaves_the_thread_clean() {
    setup();
    let mut fut = Box::pin(panics("t-fresh-panics"));
    assert!(poll_once(fut.as_mut()).is_pending());
    let r = catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut())));
    assert!(r.is_err(), "the body panicked");
    assert_eq!(seen(), empty(), "nothing left behind by the unwinding poll");
    drop(fut);
    let s = PANICKED_SEEN.lock().unwrap().clone().unwrap();
    let l = line("fresh.panics.failed", "t-fresh-panics");
    assert_eq!(l["outcome"], "panic");
    assert_eq!(l["correlation_id"], s.correlation.unwrap().as_str());
}

static DROPPED_SEEN: Mutex<Option<Seen>> = Mutex::new(None);

#[observed(event = "fresh.dropped", tenant)]
async fn dropped(tenant: &str) -> u32 {
    *DROPPED_SEEN.lock().unwrap() = Some(seen());
    YieldOnce(false).await;
    1
}

#[observed(event = "fresh.dropped_unread", tenant)]
async fn dropped_unread(tenant: &str) -> u32 {
    YieldOnce(false).await;
    1
}

#[test]
fn a_call_dropped_between_polls_is_cancelled_in_its_own_context() {
    setup();
    let mut fut = Box::pin(dropped("t-fresh-dropped"));
    assert!(poll_once(fut.as_mut()).is_pending());
    // Dropped inside another context: the line is still the call's.
    Context::new().with_tenant_id("t-other").scope(|| drop(fut));
    assert_eq!(seen(), empty());
    let s = DROPPED_SEEN.lock().unwrap().clone().unwrap();
    let l = line("fresh.dropped.failed", "t-fresh-dropped");
    assert_eq!(l["outcome"], "cancelled");
    assert_eq!(l["correlation_id"], s.correlation.unwrap().as_str());

    // The same where no poll read the context (the call never kept one).
    let mut fut = Box::pin(dropped_unread("t-fresh-unread"));
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(seen(), empty());
    let l = line("fresh.dropped_unread.failed", "t-fresh-unread");
    assert_eq!(l["outcome"], "cancelled");
    assert!(l["correlation_id"].is_string(), "{l}");
}

#[test]
fn two_calls_interleaved_on_one_thread_keep_their_own_contexts() {
    setup();
    let mut a = std::pin::pin!(read_twice("t-fresh-a"));
    let mut b = std::pin::pin!(read_twice("t-fresh-b"));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    let (a1, a2) = ready(a.as_mut());
    let (b1, b2) = ready(b.as_mut());
    assert_eq!(a1, a2);
    assert_eq!(b1, b2);
    assert_eq!(a1.tenant.as_deref(), Some("t-fresh-a"));
    assert_eq!(b1.tenant.as_deref(), Some("t-fresh-b"));
    assert_ne!(
        a1.correlation, b1.correlation,
        "one correlation id per call"
    );
    assert_eq!(seen(), empty());
}

#[test]
fn a_call_polled_on_another_thread_keeps_its_context_and_leaves_both_threads_clean() {
    setup();
    let mut fut = Box::pin(read_twice("t-fresh-moved"));
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(seen(), empty());
    let ((first, second), there) = std::thread::spawn(move || {
        let out = ready(fut.as_mut());
        (out, seen())
    })
    .join()
    .unwrap();
    assert_eq!(there, empty(), "nothing left on the second thread");
    assert_eq!(first, second);
    assert_eq!(first.tenant.as_deref(), Some("t-fresh-moved"));
}

#[observed(event = "fresh.inner")]
fn inner_sync() -> Seen {
    seen()
}

#[observed(event = "fresh.outer", tenant)]
async fn outer_nested(tenant: &str) -> (Seen, Seen) {
    let inner = inner_sync();
    YieldOnce(false).await;
    (inner, seen())
}

#[test]
fn a_sync_call_inside_a_poll_runs_in_the_async_calls_context() {
    setup();
    let mut fut = std::pin::pin!(outer_nested("t-fresh-nested"));
    assert!(poll_once(fut.as_mut()).is_pending());
    let (inner, outer) = ready(fut.as_mut());
    assert_eq!(inner, outer, "the nested call saw the caller's context");
    assert_eq!(outer.tenant.as_deref(), Some("t-fresh-nested"));
    let id = outer.correlation.unwrap();
    let inner_line = line("fresh.inner.completed", "t-fresh-nested");
    let outer_line = line("fresh.outer.completed", "t-fresh-nested");
    assert_eq!(inner_line["correlation_id"], id.as_str());
    assert_eq!(outer_line["correlation_id"], id.as_str());
}

// ---------------------------------------------------------------------------------------------
// Finding (review): the call chose the fresh path when the subscriber did not want its span, and
// `Core::begin` asked again; a subscriber whose answer changed (sampling, a dynamic filter) got
// a span built from the poller's empty context, with no tenant and no correlation id.
// ---------------------------------------------------------------------------------------------

mod flaky {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    /// Wants every other span it is asked about (the first not), records the ids of the spans
    /// it gets (and then panics when `panics`), and the correlation id in scope when a
    /// completion event arrives.
    #[derive(Default)]
    pub struct Flaky {
        pub panics: bool,
        pub asks: AtomicUsize,
        pub spans: Mutex<Vec<(Option<String>, Option<String>)>>,
        pub line_id: Mutex<Option<String>>,
    }

    struct Ids<'a>(&'a mut (Option<String>, Option<String>));

    impl Visit for Ids<'_> {
        fn record_str(&mut self, f: &Field, v: &str) {
            match f.name() {
                "tenant_id" => self.0.0 = Some(v.to_owned()),
                "correlation_id" => self.0.1 = Some(v.to_owned()),
                _ => {}
            }
        }
        fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
            self.record_str(f, format!("{v:?}").trim_matches('"'));
        }
    }

    impl Subscriber for Flaky {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, m: &Metadata<'_>) -> bool {
            !m.is_span() || self.asks.fetch_add(1, Ordering::SeqCst) % 2 == 1
        }
        fn new_span(&self, a: &Attributes<'_>) -> Id {
            let mut ids = (None, None);
            a.record(&mut Ids(&mut ids));
            let mut spans = self.spans.lock().unwrap();
            spans.push(ids);
            let n = spans.len() as u64;
            drop(spans);
            if self.panics {
                panic!("subscriber's new_span");
            }
            Id::from_u64(n)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, e: &Event<'_>) {
            if e.metadata().name() == "observa.completion" {
                *self.line_id.lock().unwrap() =
                    observa::context::correlation_id().map(|c| c.to_string());
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[observed(event = "fresh.span_race", tenant)]
async fn span_race(tenant: &str) -> Seen {
    YieldOnce(false).await;
    seen()
}

#[test]
fn a_span_wanted_only_when_the_call_begins_still_carries_the_calls_tenant_and_correlation_id() {
    setup();
    let sub = std::sync::Arc::new(flaky::Flaky::default());
    let inside = tracing::subscriber::with_default(sub.clone(), || {
        let mut fut = std::pin::pin!(span_race("t-fresh-race"));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(seen(), empty());
        ready(fut.as_mut())
    });
    let spans = sub.spans.lock().unwrap();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].0.as_deref(), Some("t-fresh-race"), "{spans:?}");
    let id = spans[0].1.clone().expect("the span's correlation id");
    assert_eq!(inside.tenant.as_deref(), Some("t-fresh-race"));
    assert_eq!(
        inside.correlation.as_deref(),
        Some(id.as_str()),
        "the body's is the span's"
    );
    assert_eq!(seen(), empty());
}

// ---------------------------------------------------------------------------------------------
// Finding (review, older than the fresh path, which made it worse): a `Context::scope` run while
// the thread's context is borrowed (a subscriber's `new_span`, called while observa reads the
// context for a span) installed nothing but still marked the thread's context empty, and its end
// marked it again. A fresh async call polled later inside that sync call took the sync call's
// context for an empty one: it saw the sync call's user, and took its context away.
// ---------------------------------------------------------------------------------------------

mod scoping {
    use observa::context::Context;
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    /// Runs a `Context::scope` inside every `new_span`: of a tenant's context, of an empty one,
    /// or of an empty one with a field bound inside.
    pub enum Scoping {
        Tenant,
        Empty,
        EmptyBinding,
    }

    impl Subscriber for Scoping {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::always()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            match self {
                Scoping::Tenant => Context::new().with_tenant_id("t-subscriber").scope(|| ()),
                Scoping::Empty => Context::new().scope(|| ()),
                Scoping::EmptyBinding => Context::new().scope(|| {
                    let _ = observa::context::bind_field("k", "v");
                }),
            }
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[observed(event = "fresh.sub_scope_outer", user)]
fn sync_polls(user: &str, fut: Pin<&mut (dyn Future<Output = Seen> + Send)>) -> (Seen, Seen, Seen) {
    let before = seen();
    let Poll::Ready(inner) = fut.poll(&mut TaskContext::from_waker(Waker::noop())) else {
        panic!("expected the call to complete on this poll")
    };
    (before, inner, seen())
}

#[test]
fn a_scope_run_by_a_subscriber_while_the_context_is_read_does_not_hide_the_sync_calls_context() {
    setup();
    let mut fut: Pin<Box<dyn Future<Output = Seen> + Send>> = Box::pin(late_read("t-fresh-sub"));
    // Started where the thread's context is empty: the fresh path.
    let first = fut
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()));
    assert!(first.is_pending());
    let (before, inner, after) =
        tracing::subscriber::with_default(scoping::Scoping::Tenant, || {
            sync_polls("u-sync", fut.as_mut())
        });
    assert_eq!(before.user.as_deref(), Some("u-sync"));
    assert_eq!(inner.tenant.as_deref(), Some("t-fresh-sub"));
    assert_eq!(inner.user, None, "the async call saw the sync call's user");
    assert_eq!(
        after, before,
        "the sync call's context was changed by the poll"
    );
    assert_eq!(seen(), empty());

    // The same with a scope of an empty context.
    let mut fut: Pin<Box<dyn Future<Output = Seen> + Send>> =
        Box::pin(late_read("t-fresh-sub-empty"));
    let first = fut
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()));
    assert!(first.is_pending());
    let (before, inner, after) = tracing::subscriber::with_default(scoping::Scoping::Empty, || {
        sync_polls("u-sync-2", fut.as_mut())
    });
    assert_eq!(inner.tenant.as_deref(), Some("t-fresh-sub-empty"));
    assert_eq!(inner.user, None, "the async call saw the sync call's user");
    assert_eq!(
        after, before,
        "the sync call's context was changed by the poll"
    );
    assert_eq!(seen(), empty());
}

#[observed(event = "fresh.frame_binds", user)]
fn frame_binds(user: &str) -> Seen {
    context::bind(Some("t-leak"), None);
    seen()
}

#[test]
fn a_frame_undoes_a_value_bound_in_its_body_after_a_subscriber_scoped_while_it_began() {
    setup();
    let inside = tracing::subscriber::with_default(scoping::Scoping::EmptyBinding, || {
        let inside = frame_binds("u-frame");
        assert_eq!(seen(), empty(), "the body's binding outlived the call");
        inside
    });
    assert_eq!(inside.tenant.as_deref(), Some("t-leak"));
    assert_eq!(inside.user.as_deref(), Some("u-frame"));
    assert_eq!(seen(), empty());
}

// ---------------------------------------------------------------------------------------------
// Finding (review): when the span built from the fresh call's context panicked afterwards (a
// subscriber's `new_span`, a `Record`), the call's end still preferred the fresh path and owed a
// new correlation id: the panic line's id was not the span's (`flaky::Flaky` with `panics`).
// ---------------------------------------------------------------------------------------------

#[observed(event = "fresh.span_panics", tenant)]
async fn span_panics(tenant: &str) -> u32 {
    YieldOnce(false).await;
    1
}

#[test]
fn a_span_panicking_at_the_start_of_a_fresh_call_gives_the_panic_line_the_spans_correlation_id() {
    setup();
    let sub = std::sync::Arc::new(flaky::Flaky {
        panics: true,
        ..Default::default()
    });
    tracing::subscriber::with_default(sub.clone(), || {
        let mut fut = std::pin::pin!(span_panics("t-fresh-span-panics"));
        let r = catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut())));
        assert!(r.is_err(), "the subscriber panicked");
        assert_eq!(seen(), empty());
    });
    let spans = sub.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = spans[0].1.clone().expect("the span's correlation id");
    let line = sub
        .line_id
        .lock()
        .unwrap()
        .clone()
        .expect("the panic line's context");
    assert_eq!(line, span);
    assert_eq!(seen(), empty());
}

// ---------------------------------------------------------------------------------------------
// Finding (review, older than this session): a future run in a context (`with_context`, every
// `observa::spawn`ed task) polled while the thread's context is borrowed (by a subscriber's
// `new_span`, called while observa reads the context for a span) installed nothing, and its
// poll's end handed the future an empty context instead of its own: every later poll ran in no
// context.
// ---------------------------------------------------------------------------------------------

mod polling {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context as TaskContext, Waker};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    pub type Held = Pin<Box<dyn Future<Output = super::Seen> + Send>>;

    /// Polls the future it holds once inside `new_span`.
    pub struct Polling(pub Mutex<Option<Held>>);

    impl Subscriber for Polling {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::always()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            if let Some(f) = self.0.lock().unwrap().as_mut() {
                assert!(
                    f.as_mut()
                        .poll(&mut TaskContext::from_waker(Waker::noop()))
                        .is_pending()
                );
            }
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[observed(event = "fresh.spanned")]
fn spanned() -> u32 {
    7
}

#[test]
fn a_future_in_a_context_polled_while_the_context_is_borrowed_keeps_its_context() {
    setup();
    use observa::context::FutureExt as _;
    let held: polling::Held = Box::pin(
        async {
            YieldOnce(false).await;
            seen()
        }
        .with_context(Context::new().with_tenant_id("t-with")),
    );
    let sub = std::sync::Arc::new(polling::Polling(Mutex::new(Some(held))));
    tracing::subscriber::with_default(sub.clone(), || assert_eq!(spanned(), 7));
    let mut held = sub.0.lock().unwrap().take().expect("the held future");
    let Poll::Ready(inside) = held
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    else {
        panic!("second poll")
    };
    assert_eq!(
        inside.tenant.as_deref(),
        Some("t-with"),
        "the future lost its context"
    );
    assert_eq!(seen(), empty());
}
