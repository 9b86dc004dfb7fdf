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

/// Microseconds since the epoch of an RFC 3339 UTC timestamp with microseconds
/// (`2026-12-03T10:55:01.123456Z`), parsed here so the check does not share observa's writer.
fn micros(ts: &str) -> i64 {
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().expect(ts);
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    assert_eq!((&ts[19..20], &ts[26..]), (".", "Z"), "{ts}");
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)) * 1_000_000) + n(20, 26)
}

#[observed(event = "completion.stamped", fields(stamp))]
fn stamped(stamp: u64) -> u64 {
    stamp
}

fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_micros()).unwrap()
}

#[test]
fn line_timestamps_follow_the_system_clock() {
    capture("completion", "info");
    // Lines are stamped from a per-thread anchor of the system clock advanced by the TSC
    // (re-read every 20 ms): over about 150 ms of lines, 1 ms apart, each stamp lies between
    // the system clock read just before and just after it (within 50 us: rounding and the
    // TSC's calibration), whether the anchor is fresh or up to 20 ms old.
    let mut windows = Vec::new();
    for i in 100..250u64 {
        let before = now_micros();
        stamped(i);
        let after = now_micros();
        windows.push((i, before, after));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for (i, before, after) in windows {
        let v = parse_unique(&line_with(&format!("\"stamp\":{i}"))).unwrap();
        let ts = micros(v["timestamp"].as_str().unwrap());
        assert!(
            before - 50 <= ts && ts <= after + 50,
            "line {i}: stamped {ts}, system clock {before}..{after}: {v}"
        );
    }
}
