//! The raw-JSON `fields` channel of completion events is observa's own: an event of other code
//! that borrows the `observa.completion` metadata name cannot inject members into the line.

mod log_support;

use log_support::*;
use observa::observed;

#[observed(event = "completion.own", fields(order_id))]
fn own(order_id: u64) -> u64 {
    order_id
}

#[test]
fn a_foreign_event_borrowing_the_name_cannot_inject_members() {
    capture("completion", "info");
    tracing::info!(
        name: "observa.completion",
        event = "completion.forged",
        fields = r#"{"injected":true,"tenant_id":"t-evil","outcome":"success"}"#,
        marker = "completion-forged",
    );
    let v = parse_unique(&line_with("completion-forged")).unwrap();
    assert!(v.get("injected").is_none(), "members were injected: {v}");
    assert_eq!(
        v["fields"], r#"{"injected":true,"tenant_id":"t-evil","outcome":"success"}"#,
        "the forged text is kept as ordinary text: {v}"
    );
    assert!(v.get("tenant_id").is_none(), "{v}");
}

#[test]
fn observa_own_completion_fields_are_still_members() {
    capture("completion", "info");
    assert_eq!(own(4242), 4242);
    let v = parse_unique(&line_with("completion.own.completed")).unwrap();
    assert_eq!(v["order_id"], 4242, "{v}");
    assert!(v.get("fields").is_none(), "{v}");
}
