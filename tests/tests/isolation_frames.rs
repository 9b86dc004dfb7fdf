//! Adversarial review of the in-place frames (issue #14): ids bound in place by
//! `#[observed(tenant/user/correlation)]`, async contexts swapped per poll, per-thread metric
//! shards and the per-callsite mask cache of the log visitor. Each test is an attack on the
//! isolation promise (README "Isolation", `observa::context` docs) or on "a bound or sensitive
//! value is never shown"; those that pass pin the behaviour.

use observa::context::{self, Context};
use observa::observed;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

mod log_support;

use log_support::{Seen, YieldOnce, panic_text, poll_once, sample, seen};

fn setup() {
    log_support::capture("isolation-frames-tests", "info");
}

// ---------------------------------------------------------------------------------------------
// Finding: the mask cache decides by field *index* of the event's metadata, but a foreign event
// may carry fields of another callsite's field set (`tracing::Event::dispatch(meta, values)`
// with `values` built from another `FieldSet`: `ValueSet::record` visits the value set's own
// fields). The index then points at a different key of `meta`, and a `password` value is
// written in clear. Before the cache, the decision was taken by the field's own name.
// ---------------------------------------------------------------------------------------------

mod foreign {
    use tracing::callsite::{DefaultCallsite, Identifier};
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;
    use tracing::{Level, Metadata};

    pub static CS_META: DefaultCallsite = DefaultCallsite::new(&META);
    pub static META: Metadata<'static> = Metadata::new(
        "foreign event",
        "foreign_crate",
        Level::INFO,
        None,
        None,
        None,
        FieldSet::new(&["note", "marker"], Identifier(&CS_META)),
        Kind::EVENT,
    );

    pub static CS_VALUES: DefaultCallsite = DefaultCallsite::new(&VALUES);
    pub static VALUES: Metadata<'static> = Metadata::new(
        "foreign values",
        "foreign_crate",
        Level::INFO,
        None,
        None,
        None,
        FieldSet::new(&["password", "marker"], Identifier(&CS_VALUES)),
        Kind::EVENT,
    );
}

#[test]
fn a_foreign_event_with_fields_of_another_callsite_is_masked_by_key() {
    setup();
    use tracing::field::Value;
    let fields = foreign::VALUES.fields();
    let password = fields.field("password").unwrap();
    let marker = fields.field("marker").unwrap();
    let secret = "hunter2-frames";
    let mark = "frames-foreign-fieldset";
    // Twice: the first fills the cache, the second hits it.
    for _ in 0..2 {
        let values = [
            (&password, Some(&secret as &dyn Value)),
            (&marker, Some(&mark as &dyn Value)),
        ];
        tracing::Event::dispatch(&foreign::META, &fields.value_set(&values));
    }
    let line = log_support::line_with(mark);
    assert!(
        !log_support::raw().contains(secret),
        "a sensitive key was written in clear: {line}"
    );
}

#[test]
fn a_foreign_event_that_borrows_the_completion_name_is_masked_by_key() {
    setup();
    // Other code may name its event like observa's completion event: that must not switch off
    // the key rules for its fields.
    let secret = "hunter2-borrowed-name";
    tracing::info!(
        name: "observa.completion",
        target: "foreign_crate",
        password = secret,
        marker = "frames-borrowed-completion-name",
    );
    let line = log_support::line_with("frames-borrowed-completion-name");
    assert!(
        !log_support::raw().contains(secret),
        "a sensitive key was written in clear: {line}"
    );
}

// ---------------------------------------------------------------------------------------------
// Attacks on the frames that hold (pinned).
// ---------------------------------------------------------------------------------------------

#[observed(tenant, event = "iframes.async_tenant")]
async fn async_tenant(tenant: &str) -> Seen {
    let first = seen();
    YieldOnce(false).await;
    assert_eq!(seen(), first, "same context on every poll");
    first
}

#[observed(event = "iframes.async_unbound")]
async fn async_unbound_binds_user() -> Seen {
    context::bind(None, Some("u-async"));
    YieldOnce(false).await;
    seen()
}

#[observed(tenant, event = "iframes.frame_with")]
fn frame_with<R>(tenant: &str, f: impl FnOnce() -> R) -> R {
    f()
}

#[test]
fn a_future_created_in_one_frame_and_polled_in_another_keeps_its_own_context() {
    setup();
    let base = seen();
    let mut fut = Box::pin(frame_with("t-create", || async_tenant("t-fut")));
    let (outside, after) = frame_with("t-poll", || {
        let before = seen();
        assert!(poll_once(fut.as_mut()).is_pending());
        let mid = seen();
        assert_eq!(mid, before, "the poll left the polling frame as it was");
        let Poll::Ready(inside) = poll_once(fut.as_mut()) else {
            panic!("second poll")
        };
        assert_eq!(inside.tenant.as_deref(), Some("t-fut"));
        (before, seen())
    });
    assert_eq!(outside.tenant.as_deref(), Some("t-poll"));
    assert_eq!(after, outside);
    assert_eq!(seen().tenant, base.tenant);
    assert_eq!(seen(), base);
}

#[test]
fn a_future_forgotten_mid_way_inside_a_frame_leaves_the_frame_intact() {
    setup();
    let base = seen();
    frame_with("t-forget", || {
        let before = seen();
        let mut fut = Box::pin(async_tenant("t-forgotten"));
        assert!(poll_once(fut.as_mut()).is_pending());
        std::mem::forget(fut);
        // A never-polled one, forgotten too.
        std::mem::forget(async_tenant("t-never"));
        assert_eq!(seen(), before);
        context::bind_field("after_forget", 1).unwrap();
    });
    assert_eq!(seen(), base);
}

#[test]
fn an_unbound_async_call_binding_inside_a_frame_is_undone_with_the_frame() {
    setup();
    let base = seen();
    let mut fut = Box::pin(async_unbound_binds_user());
    let inside = frame_with("t-a", || {
        assert!(poll_once(fut.as_mut()).is_pending());
        frame_with("t-b", || {
            let Poll::Ready(s) = poll_once(fut.as_mut()) else {
                panic!("second poll")
            };
            s
        })
    });
    assert_eq!(inside.user.as_deref(), Some("u-async"));
    assert_eq!(seen(), base);
}

#[observed(tenant, user, event = "iframes.scoped_then_panics")]
fn scoped_then_panics(tenant: &str, user: &str) {
    context::bind_field("f1", "v1").unwrap();
    context::bind(Some("t-rebound"), None);
    Context::new().with_tenant_id("t-scope").scope(|| {
        context::bind(None, Some("u-scope"));
        frame_with("t-nested", || {
            context::bind_field("f2", 2).unwrap();
        });
        assert_eq!(seen().tenant.as_deref(), Some("t-scope"));
        assert_eq!(seen().user.as_deref(), Some("u-scope"));
    });
    assert_eq!(seen().tenant.as_deref(), Some("t-rebound"));
    assert_eq!(seen().user.as_deref(), Some(user));
    assert_eq!(seen().fields, vec![("f1".to_owned(), "v1".to_owned())]);
    frame_with("t-last", || panic!("boom after a scope, binds and frames"));
}

#[test]
fn binds_scopes_and_nested_frames_then_a_panic_restore_the_caller() {
    setup();
    let base = Context::new()
        .with_tenant_id("t-base")
        .with_user_id("u-base")
        .with_field("base_field", "b");
    base.scope(|| {
        let at_start = seen();
        let r = catch_unwind(AssertUnwindSafe(|| scoped_then_panics("t-1", "u-1")));
        assert!(r.is_err());
        assert_eq!(seen(), at_start);
    });
    let after = seen();
    assert_eq!(
        (after.tenant, after.user, after.fields),
        (None, None, vec![])
    );
}

#[observed(tenant, event = "iframes.spawning")]
fn spawning(tenant: &str, rt: &tokio::runtime::Runtime) -> (Seen, Seen, Seen) {
    let _rt = rt.enter();
    let here = seen();
    let nested = frame_with("t-nested", seen);
    let task = rt.block_on(context::spawn(async { seen() })).unwrap();
    (here, nested, task)
}

#[test]
fn one_correlation_id_across_nested_frames_and_spawned_tasks() {
    setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (here, nested, task) = spawning("t-spawn", &rt);
    assert!(here.correlation.is_some());
    assert_eq!(nested.correlation, here.correlation);
    assert_eq!(task.correlation, here.correlation);
    assert_eq!(task.tenant.as_deref(), Some("t-spawn"));
    assert_eq!(nested.tenant.as_deref(), Some("t-nested"));
    // Outside the frame: nothing left, and a task spawned now carries nothing.
    assert_eq!(seen().tenant, None);
    let _rt = rt.enter();
    let later = rt.block_on(context::spawn(async { seen() })).unwrap();
    assert_eq!(later.tenant, None);
    assert_ne!(later.correlation, here.correlation);
}

#[observed(tenant, event = "iframes.tls")]
fn in_tls(tenant: &str) -> Option<String> {
    seen().tenant
}

#[test]
fn a_frame_on_a_thread_that_exits_right_after_leaves_nothing_for_the_next_call() {
    setup();
    let r = std::thread::spawn(|| {
        let inside = in_tls("t-thread");
        (inside, seen().tenant)
    })
    .join()
    .unwrap();
    assert_eq!(r, (Some("t-thread".to_owned()), None));
}

// ---------------------------------------------------------------------------------------------
// Metric shards (pinned): two sites sharing one series, an async call started on a thread that
// exits before it finishes elsewhere.
// ---------------------------------------------------------------------------------------------

#[observed(event = "iframes.shared", metric = "iframes_shared")]
fn shared_a() -> u32 {
    1
}

#[observed(event = "iframes.shared", metric = "iframes_shared")]
fn shared_b() -> u32 {
    2
}

#[observed(event = "iframes.moved", metric = "iframes_moved")]
async fn moved() -> u32 {
    YieldOnce(false).await;
    3
}

#[test]
fn two_sites_sharing_a_series_and_a_call_moving_threads_are_counted_exactly() {
    setup();
    let hs: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..10 {
                    shared_a();
                    shared_b();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    for _ in 0..5 {
        shared_a();
    }
    // Started (first poll) on a thread that exits, finished on this one.
    let mut fut = std::thread::spawn(|| {
        let mut fut = Box::pin(moved());
        assert!(poll_once(fut.as_mut()).is_pending());
        fut
    })
    .join()
    .unwrap();
    let text = observa::metrics::render();
    assert_eq!(
        sample(&text, "iframes_moved_in_flight{event=\"iframes.moved\"}"),
        1.0
    );
    assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(3)));
    let text = observa::metrics::render();
    assert_eq!(
        sample(
            &text,
            "iframes_shared_total{event=\"iframes.shared\",outcome=\"ok\"}"
        ),
        65.0
    );
    assert_eq!(
        sample(
            &text,
            "iframes_shared_duration_seconds_count{event=\"iframes.shared\"}"
        ),
        65.0
    );
    assert_eq!(
        sample(&text, "iframes_shared_in_flight{event=\"iframes.shared\"}"),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            "iframes_moved_total{event=\"iframes.moved\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "iframes_moved_in_flight{event=\"iframes.moved\"}"),
        0.0
    );
}

// ---------------------------------------------------------------------------------------------
// Finding: a call made from the destructor of another thread-local. The frames keep the
// contexts they save in a thread-local of their own (`SAVED`), registered for destruction when
// first used: if that was after the user's thread-local, it is destroyed first, and a `bind` /
// `bind_field` inside a tenant call made from the user's destructor panics ("cannot access a
// Thread Local Storage value during or after destruction"; uncaught, the process aborts). Before
// the change the same call only needed the context's own slot, alive until later.
// ---------------------------------------------------------------------------------------------

#[observed(tenant, event = "iframes.binds_in_frame")]
fn binds_in_frame(tenant: &str) -> Seen {
    context::bind_field("in_dtor", "yes").unwrap();
    seen()
}

struct CallsOnDrop(std::sync::mpsc::Sender<Result<Seen, String>>);

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        let r = catch_unwind(|| binds_in_frame("t-dtor")).map_err(|e| panic_text(&*e));
        let _ = self.0.send(r);
    }
}

thread_local! {
    static CALLS_ON_DROP: std::cell::RefCell<Option<CallsOnDrop>> =
        const { std::cell::RefCell::new(None) };
}

#[test]
fn a_call_that_binds_in_a_thread_local_destructor_works() {
    setup();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // observa's thread-locals first (context slot, log scratch, metric shards)...
        frame_with("t-warm", seen);
        // ...then the user's (destroyed before those)...
        CALLS_ON_DROP.with(|c| *c.borrow_mut() = Some(CallsOnDrop(tx)));
        // ...then whatever a frame needs only once something is bound inside it.
        assert_eq!(binds_in_frame("t-live").tenant.as_deref(), Some("t-live"));
    })
    .join()
    .unwrap();
    let seen = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the destructor ran")
        .unwrap_or_else(|e| panic!("the call in the destructor panicked: {e}"));
    assert_eq!(seen.tenant.as_deref(), Some("t-dtor"));
    assert_eq!(seen.fields, vec![("in_dtor".to_owned(), "yes".to_owned())]);
}
