//! A renamed key inside a recorded value is counted once per line, whichever way the line's
//! fields are read: the site's own members alone (read by their rendered keys), or with
//! members observa appends at the end of the call (`ret`, a slow mark), which the general path
//! reads. (One test in this binary: the counters are global.)

mod log_support;

use log_support::*;
use observa::observed;
use std::collections::BTreeMap;

/// Two keys that are the same once cut to the key bound (128 bytes): the second is renamed.
fn twins() -> BTreeMap<String, u32> {
    let stem = "k".repeat(130);
    BTreeMap::from([(format!("{stem}a"), 1), (format!("{stem}b"), 2)])
}

#[observed(event = "counts.own", fields(m, order_id))]
fn own(m: &BTreeMap<String, u32>, order_id: u64) -> u64 {
    m.len() as u64 + order_id
}

#[observed(event = "counts.ret", fields(m, order_id), ret)]
fn with_ret(m: &BTreeMap<String, u32>, order_id: u64) -> u64 {
    m.len() as u64 + order_id
}

#[observed(event = "counts.slow", fields(m, order_id), slow_ms = 1)]
fn slow(m: &BTreeMap<String, u32>, order_id: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(3));
    m.len() as u64 + order_id
}

#[test]
fn a_nested_rename_is_counted_once_per_line() {
    capture("counts", "info");
    let m = twins();
    for (name, call) in [
        (
            "counts.own.completed",
            own as fn(&BTreeMap<String, u32>, u64) -> u64,
        ),
        ("counts.ret.completed", with_ret),
        ("counts.slow.completed", slow),
    ] {
        let before = counter("observa_log_fields_renamed_total");
        for i in 0..3 {
            call(&m, i);
        }
        let lines = wait_lines(|v| v["event"] == name, |l| l.len() >= 3);
        assert_eq!(lines.len(), 3, "{name}");
        for v in &lines {
            let nested = v["m"].as_object().unwrap_or_else(|| panic!("{v}"));
            assert_eq!(nested.len(), 2, "{v}");
            assert!(nested.keys().any(|k| k.ends_with("_1")), "{v}");
        }
        assert_eq!(
            counter("observa_log_fields_renamed_total") - before,
            3.0,
            "{name}: one rename per line"
        );
    }
}
