//! Ids bound in place by `#[observed(tenant, user, correlation)]` (a frame over the thread's
//! context, no copy of it): what a call binds, and whatever is changed in place inside it
//! (`context::bind`, `bind_field`, a nested call), is undone exactly at the call's end, also
//! when it unwinds; a correlation id generated inside a nested call for its caller stays the
//! caller's. Strings are bound as they are, other `Display` values formatted.

use observa::context::{self, Context};
use observa::observed;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

mod log_support;

use log_support::{Seen, seen};

fn setup() {
    log_support::capture("bind-frames-tests", "info");
}

#[observed(tenant, event = "frames.inner")]
fn inner(tenant: &str, fail: bool) -> Seen {
    context::bind_field("inner_field", 7).unwrap();
    context::bind(None, Some("inner-user"));
    let s = seen();
    if fail {
        panic!("inner fails");
    }
    s
}

#[observed(tenant, event = "frames.outer")]
fn outer(tenant: &str, fail: bool) -> (Seen, Seen, Seen) {
    let before = seen();
    let inside = inner("t-inner", fail);
    (before, inside, seen())
}

#[observed(tenant, event = "frames.outer_catching")]
fn outer_catching(tenant: &str) -> (Seen, Seen) {
    let before = seen();
    let r = catch_unwind(AssertUnwindSafe(|| inner("t-inner", true)));
    assert!(r.is_err());
    (before, seen())
}

#[test]
fn nested_binding_and_in_place_changes_are_undone() {
    setup();
    let base = Context::new()
        .with_tenant_id("t-base")
        .with_correlation_id("corr-base")
        .with_field("base_field", "b");
    base.scope(|| {
        let at_start = seen();
        let (before, inside, after) = outer("t-outer", false);
        assert_eq!(before.tenant.as_deref(), Some("t-outer"));
        assert_eq!(before.correlation.as_deref(), Some("corr-base"));
        assert_eq!(before.fields, at_start.fields);
        assert_eq!(inside.tenant.as_deref(), Some("t-inner"));
        assert_eq!(inside.user.as_deref(), Some("inner-user"));
        assert!(
            inside
                .fields
                .contains(&("inner_field".to_owned(), "7".to_owned()))
        );
        assert!(
            inside
                .fields
                .contains(&("base_field".to_owned(), "b".to_owned()))
        );
        // The nested call's end restored the outer call's context exactly.
        assert_eq!(after, before);
        assert_eq!(seen(), at_start);
    });
    assert_eq!(seen().tenant, None);
    assert!(seen().fields.is_empty());
}

#[test]
fn nested_binding_and_bind_field_restored_after_a_panic() {
    setup();
    let base = Context::new()
        .with_tenant_id("t-base")
        .with_correlation_id("corr-base")
        .with_field("base_field", "b");
    base.scope(|| {
        let at_start = seen();
        let r = catch_unwind(AssertUnwindSafe(|| outer("t-outer", true)));
        assert!(r.is_err());
        assert_eq!(seen(), at_start, "unwinding through two frames");
        let (before, after) = outer_catching("t-outer");
        assert_eq!(after, before, "the outer call sees its own context again");
        assert_eq!(seen(), at_start);
    });
    assert_eq!(seen().tenant, None);
    assert_eq!(seen().user, None);
    assert!(seen().fields.is_empty());
}

#[test]
fn top_level_frames_leave_nothing_behind() {
    setup();
    let (b1, i1, a1) = outer("t1", false);
    let (b2, _, _) = outer("t2", false);
    assert!(b1.correlation.is_some());
    assert_eq!(i1.correlation, b1.correlation, "nested calls share the id");
    assert_eq!(a1, b1);
    assert_ne!(
        b1.correlation, b2.correlation,
        "a fresh id per top-level call"
    );
    assert_eq!(b2.tenant.as_deref(), Some("t2"));
    let after = seen();
    assert_eq!(after.tenant, None);
    assert_eq!(after.user, None);
    assert_eq!(after.correlation, None);
    assert!(after.fields.is_empty());
}

#[observed(event = "frames.plain")]
fn plain_caller() -> (Option<String>, Seen, Option<String>) {
    // The caller owes an id: generated inside the nested call, it stays the caller's.
    let inside = inner("t-nested", false);
    let after = context::correlation_id().map(|i| i.to_string());
    (None, inside, after)
}

#[test]
fn correlation_generated_inside_a_nested_frame_is_the_callers() {
    setup();
    let (_, inside, after) = plain_caller();
    assert!(inside.correlation.is_some());
    assert_eq!(inside.correlation, after);
}

#[observed(correlation = id, event = "frames.correlation")]
fn with_correlation(id: &str) -> Option<String> {
    context::correlation_id().map(|i| i.to_string())
}

#[test]
fn bound_correlation_is_undone() {
    setup();
    Context::new().with_correlation_id("outer-id").scope(|| {
        assert_eq!(with_correlation("inner-id").as_deref(), Some("inner-id"));
        assert_eq!(
            context::correlation_id().map(|i| i.to_string()).as_deref(),
            Some("outer-id")
        );
    });
    assert_eq!(with_correlation("top-id").as_deref(), Some("top-id"));
    assert_eq!(context::correlation_id(), None);
}

struct Slug(u32);

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slug-{}", self.0)
    }
}

#[observed(tenant, event = "frames.string")]
fn by_string(tenant: String) -> Option<String> {
    context::tenant_id().map(|i| i.to_string())
}

#[observed(tenant, event = "frames.id")]
fn by_id(tenant: context::Id) -> Option<String> {
    context::tenant_id().map(|i| i.to_string())
}

#[observed(tenant, user = uid, event = "frames.display")]
fn by_display(tenant: &Slug, uid: u64) -> (Option<String>, Option<String>) {
    (
        context::tenant_id().map(|i| i.to_string()),
        context::user_id().map(|i| i.to_string()),
    )
}

#[observed(tenant, event = "frames.ref_ref")]
fn by_ref_ref(tenant: &&str) -> Option<String> {
    context::tenant_id().map(|i| i.to_string())
}

#[test]
fn strings_ids_and_display_values_bind() {
    setup();
    assert_eq!(by_string("s".repeat(60)), Some("s".repeat(60)));
    assert_eq!(by_id(context::Id::new("id-t")).as_deref(), Some("id-t"));
    assert_eq!(
        by_display(&Slug(3), 42),
        (Some("slug-3".to_owned()), Some("42".to_owned()))
    );
    assert_eq!(by_ref_ref(&"rr").as_deref(), Some("rr"));
    assert_eq!(context::tenant_id(), None);
    assert_eq!(context::user_id(), None);
}
