//! Every line is bounded: lists and maps by item count (with a marker), text values by
//! `OBSERVA_LOG_MAX_VALUE_BYTES` (recorded `fields` included), the whole line by
//! `OBSERVA_LOG_MAX_LINE_BYTES` (with a `line_truncated` marker, still one valid JSON object);
//! a thread's scratch buffers shrink back after an outsized line.
//!
//! This binary runs with a line bound of 20,000 bytes and a value bound of 1,000 bytes: custom
//! values the defaults (65,536 and 4,096) would not produce.

mod log_support;

use log_support::*;
use observa::observed;
use std::collections::BTreeMap;

const MAX_LINE: usize = 20_000;
const MAX_VALUE: usize = 1_000;

fn init() {
    let mut c = observa::Config::new("bounds");
    c.log_max_line_bytes = MAX_LINE;
    c.log_max_value_bytes = MAX_VALUE;
    capture_config(c);
}

#[observed(event = "t.ids", fields(ids))]
fn ids(ids: Vec<u64>) -> usize {
    ids.len()
}

#[observed(event = "t.map", fields(m))]
fn map(m: BTreeMap<String, u64>) -> usize {
    m.len()
}

#[observed(event = "t.text", fields(s))]
fn text(s: &str) -> usize {
    s.len()
}

#[test]
fn a_huge_list_gives_a_bounded_parseable_line() {
    init();
    ids((0..200_000).map(|i| i * 1_000_003).collect());
    let line = line_with("\"t.ids.completed\"");
    assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    let v = parse_unique(&line).unwrap();
    let items = v["ids"].as_array().unwrap();
    assert_eq!(items.len(), observa::log::json::MAX_ITEMS + 1);
    assert_eq!(items[1], 1_000_003);
    assert_eq!(items.last().unwrap(), "…[+199000 items]");
}

#[test]
fn a_huge_map_is_cut_with_a_marker() {
    init();
    map((0..5000u64).map(|i| (format!("k{i:05}"), i)).collect());
    let line = line_with("\"t.map.completed\"");
    assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    let v = parse_unique(&line).unwrap();
    let m = v["m"].as_object().unwrap();
    assert!(m.len() <= observa::log::json::MAX_ITEMS + 1, "{}", m.len());
    let left = m[observa::log::json::MORE_KEY].as_u64().unwrap();
    assert_eq!(left as usize + m.len() - 1, 5000);
}

#[test]
fn recorded_text_honours_the_configured_value_bound() {
    init();
    text(&"a".repeat(3000));
    let v = parse_unique(&line_with("\"t.text.completed\"")).unwrap();
    let s = v["s"].as_str().unwrap();
    assert_eq!(
        s,
        format!(
            "{}{}",
            "a".repeat(MAX_VALUE),
            observa::log::json::TRUNCATION_MARKER
        )
    );
}

#[test]
fn many_large_fields_are_cut_to_the_line_bound_with_a_marker() {
    init();
    // Control characters escape to six bytes each: 10 fields of 6,000 bytes.
    let big = "\u{1}".repeat(MAX_VALUE);
    let before = counter("observa_log_lines_truncated_total");
    tracing::info!(
        f0 = %big, f1 = %big, f2 = %big, f3 = %big, f4 = %big,
        f5 = %big, f6 = %big, f7 = %big, f8 = %big, f9 = %big,
        small = 7, marker = "bounds-many", "{}", big
    );
    let line = line_with("bounds-many");
    assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    let v = parse_unique(&line).unwrap();
    assert_eq!(v["line_truncated"], true);
    assert_eq!(v["small"], 7, "a field that fits after a cut one is kept");
    assert_eq!(v["marker"], "bounds-many");
    assert!(v["message"].as_str().unwrap().starts_with('\u{1}'));
    let omitted = (0..10)
        .filter(|i| {
            v[format!("f{i}")]
                .as_str()
                .is_some_and(|s| s.starts_with("…[omitted"))
        })
        .count();
    assert!(omitted >= 5, "{v}");
    assert!(counter("observa_log_lines_truncated_total") > before);
}

#[test]
fn a_huge_message_is_cut_to_the_line_bound() {
    init();
    tracing::info!(marker = "bounds-msg", "{}", "\u{7}".repeat(100_000));
    let line = line_with("bounds-msg");
    assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    parse_unique(&line).unwrap();
}

#[test]
fn scratch_buffers_shrink_after_an_outsized_line() {
    init();
    let big = "\u{1}".repeat(MAX_VALUE);
    // About 30 x 6,000 bytes of fields before the line bound applies.
    tracing::info!(
        a0 = %big, a1 = %big, a2 = %big, a3 = %big, a4 = %big, a5 = %big, a6 = %big, a7 = %big,
        a8 = %big, a9 = %big, b0 = %big, b1 = %big, b2 = %big, b3 = %big, b4 = %big, b5 = %big,
        b6 = %big, b7 = %big, b8 = %big, b9 = %big, c0 = %big, c1 = %big, c2 = %big, c3 = %big,
        c4 = %big, c5 = %big, c6 = %big, c7 = %big, marker = "bounds-scratch"
    );
    line_with("bounds-scratch");
    let cap = observa::log::scratch_capacity();
    assert!(cap <= 8 * 16 * 1024, "{cap} bytes kept on the thread");
}

#[test]
fn invisible_characters_are_escaped_in_json_lines() {
    init();
    let s = "a\u{200b}b\u{200c}c\u{200d}d\u{2060}e\u{feff}f\u{e0041}\u{e007f}g\u{202e}h";
    tracing::info!(v = s, marker = "bounds-invisible", "m{s}");
    let line = line_with("bounds-invisible");
    assert!(!line.chars().any(forbidden), "{line:?}");
    let v = parse_unique(&line).unwrap();
    assert_eq!(v["v"], s);
    assert_eq!(v["message"], format!("m{s}"));
}

#[test]
fn a_huge_debug_value_of_other_code_is_bounded() {
    init();
    let ids: Vec<u64> = (0..200_000).collect();
    tracing::info!(ids = ?ids, marker = "bounds-debug");
    let line = line_with("bounds-debug");
    assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    let v = parse_unique(&line).unwrap();
    let s = v["ids"].as_str().unwrap();
    assert!(s.starts_with("[0, 1, 2"), "{s}");
    assert!(s.ends_with(observa::log::json::TRUNCATION_MARKER), "{s}");
    assert!(s.len() <= MAX_VALUE + observa::log::json::TRUNCATION_MARKER.len());
}
