//! No line carries a key twice: fields of an event that collide with the line's canonical keys
//! (or with each other) are renamed `<key>_1`, `<key>_2`, ... and counted.

mod log_support;

use log_support::*;
use observa::observed;

#[test]
fn foreign_fields_never_repeat_canonical_keys() {
    capture("keys", "info");
    let before = counter("observa_log_fields_renamed_total");
    observa::Context::new()
        .with_correlation_id("c-real")
        .with_tenant_id("t-real")
        .with_user_id("u-real")
        .scope(|| {
            tracing::info!(
                tenant_id = "t-evil",
                user_id = "u-evil",
                correlation_id = "c-evil",
                level = "debug",
                timestamp = 1,
                target = "elsewhere",
                marker = "keys-canonical",
                "hello"
            );
        });
    let line = line_with("keys-canonical");
    let v = parse_unique(&line).unwrap();
    assert_eq!(v["tenant_id"], "t-real");
    assert_eq!(v["user_id"], "u-real");
    assert_eq!(v["correlation_id"], "c-real");
    assert_eq!(v["level"], "info");
    assert_eq!(v["tenant_id_1"], "t-evil");
    assert_eq!(v["user_id_1"], "u-evil");
    assert_eq!(v["correlation_id_1"], "c-evil");
    assert_eq!(v["level_1"], "debug");
    assert_eq!(v["timestamp_1"], 1);
    assert_eq!(v["target_1"], "elsewhere");
    let after = counter("observa_log_fields_renamed_total");
    assert!(after - before >= 6.0, "{before} -> {after}");
}

#[test]
fn a_canonical_key_not_in_the_line_is_kept() {
    capture("keys", "info");
    tracing::info!(tenant_id = "t-1", marker = "keys-unbound");
    let v = parse_unique(&line_with("keys-unbound")).unwrap();
    assert_eq!(v["tenant_id"], "t-1");
    assert!(v.get("tenant_id_1").is_none(), "{v}");
}

#[test]
fn repeated_foreign_fields_are_renamed() {
    capture("keys", "info");
    tracing::info!(a = 1, a = 2, a = 3, marker = "keys-repeated");
    let v = parse_unique(&line_with("keys-repeated")).unwrap();
    assert_eq!(
        (&v["a"], &v["a_1"], &v["a_2"]),
        (&1.into(), &2.into(), &3.into())
    );
}

#[observed(event = "t.keys", fields(line_truncated, note))]
fn recorded(line_truncated: u8, note: &str) -> usize {
    observa::Context::new().with_tenant_id("t-x").scope(|| {
        tracing::info!(tenant_id = note, marker = "keys-nested");
    });
    line_truncated as usize + note.len()
}

#[test]
fn recorded_fields_never_repeat_the_line_marker_key() {
    capture("keys", "info");
    recorded(3, "n");
    let line = line_with("\"t.keys.completed\"");
    let v = parse_unique(&line).unwrap();
    assert_eq!(v["line_truncated_1"], 3);
    assert!(v.get("line_truncated").is_none(), "{v}");
    assert_eq!(v["note"], "n");
    let nested = parse_unique(&line_with("keys-nested")).unwrap();
    assert_eq!(nested["tenant_id"], "t-x");
    assert_eq!(nested["tenant_id_1"], "n");
}

#[test]
fn a_key_taken_in_all_its_forms_is_dropped_and_counted() {
    capture("keys", "info");
    let before = counter("observa_log_fields_dropped_total");
    tracing::info!(
        b = 0,
        b = 1,
        b = 2,
        b = 3,
        b = 4,
        b = 5,
        b = 6,
        b = 7,
        b = 8,
        b = 9,
        marker = "keys-dropped"
    );
    let v = parse_unique(&line_with("keys-dropped")).unwrap();
    assert_eq!(v["b_8"], 8);
    assert!(v.get("b_9").is_none());
    assert!(counter("observa_log_fields_dropped_total") - before >= 1.0);
}
