//! The end of an async call on the fast path: the poll that completes the body leaves the
//! call's context entered for the call's end (its `ret` value, its outcome and its completion
//! line), which exits it, instead of exiting it and entering it again. What the caller sees
//! before and after is unchanged; the call's `ret` value is rendered inside the call's context,
//! as a sync call's is (it was rendered in the caller's before); a panic between the completing
//! poll and the end (a `ret` value whose `Record` panics) leaves the caller's context as it was.

mod log_support;

use log_support::{capture, poll_once, seen, wait_lines};
use observa::observed;
use observa::record::{FieldValue, Record};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

/// A value whose record is the tenant of the context it is rendered in.
struct TenantSeen;

impl Record for TenantSeen {
    fn record(&self) -> FieldValue<'_> {
        match observa::context::current().tenant_id() {
            Some(t) => FieldValue::Display(Box::leak(Box::new(t.to_owned()))),
            None => FieldValue::Null,
        }
    }
}

/// A value whose record panics.
struct Boom;

impl Record for Boom {
    fn record(&self) -> FieldValue<'_> {
        panic!("ret record panicked")
    }
}

#[observed(tenant, event = "kept.ret", ret)]
async fn ret_sees(tenant: &str) -> TenantSeen {
    let _ = tenant;
    TenantSeen
}

#[observed(tenant, event = "kept.boom", ret)]
async fn ret_panics(tenant: &str) -> Boom {
    let _ = tenant;
    Boom
}

#[observed(tenant, event = "kept.plain")]
async fn plain(tenant: &str, n: u64) -> u64 {
    let _ = tenant;
    n
}

#[observed(tenant, event = "kept.sync")]
fn sync_around<R>(tenant: &str, f: impl FnOnce() -> R) -> R {
    let _ = tenant;
    f()
}

#[test]
fn the_end_of_a_fast_async_call_runs_in_its_context_and_leaves_nothing() {
    capture("kept", "info");
    let base = seen();
    assert_eq!(base.tenant, None);

    // The `ret` value is rendered inside the call's context (as a sync call's is).
    let Poll::Ready(_) = poll_once(std::pin::pin!(ret_sees("t-kept"))) else {
        panic!("one poll")
    };
    assert_eq!(seen(), base, "the caller's context after the call");
    let line = wait_lines(|v| v["event"] == "kept.ret.completed", |l| !l.is_empty());
    assert_eq!(line[0]["tenant_id"], "t-kept");
    assert_eq!(line[0]["return"], "t-kept", "{}", line[0]);

    // A panic between the completing poll and the end: a failed line is written in the call's
    // context (`cancelled`, as before this change: the call is dropped while unwinding, and its
    // drop cannot tell its own panic from its caller's), and the caller's context is left as
    // it was.
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = poll_once(std::pin::pin!(ret_panics("t-boom")));
    }));
    assert!(r.is_err(), "the ret record's panic reaches the caller");
    assert_eq!(seen(), base, "the caller's context after the panic");
    let line = wait_lines(|v| v["event"] == "kept.boom.failed", |l| !l.is_empty());
    assert_eq!(line[0]["outcome"], "cancelled", "{}", line[0]);
    assert_eq!(line[0]["tenant_id"], "t-boom", "{}", line[0]);

    // The fast path is still usable afterwards, and a completed call inside a sync call on
    // the fast path leaves that call's context as it was.
    let Poll::Ready(n) = poll_once(std::pin::pin!(plain("t-after", 5))) else {
        panic!("one poll")
    };
    assert_eq!(n, 5);
    let (before, after) = sync_around("t-sync", || {
        let before = seen();
        let Poll::Ready(_) = poll_once(std::pin::pin!(plain("t-inner", 6))) else {
            panic!("one poll")
        };
        (before, seen())
    });
    assert_eq!(before.tenant.as_deref(), Some("t-sync"));
    assert_eq!(
        after, before,
        "the sync call's context after the async call inside it"
    );
    assert_eq!(seen(), base);
    let lines = wait_lines(|v| v["event"] == "kept.plain.completed", |l| l.len() >= 2);
    let tenants: Vec<_> = lines.iter().map(|v| v["tenant_id"].clone()).collect();
    assert_eq!(tenants, ["t-after", "t-inner"]);
}
