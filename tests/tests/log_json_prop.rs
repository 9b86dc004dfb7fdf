//! Property test of the line writer, through the real layer: random text (controls, invisible
//! and bidi characters, tags, quotes, huge values), random map keys, field names that collide
//! with canonical keys and with each other. Every line parses as JSON (`serde_json`), carries
//! no key twice at any depth, no raw forbidden character, and stays within the default 64 KiB
//! bound.

mod log_support;

use log_support::*;
use observa::observed;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

const MAX_LINE: usize = 64 * 1024;

fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        3 => prop::sample::select(vec![
            '\u{0}', '\n', '\r', '\t', '"', '\\', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}',
            '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{200c}', '\u{200d}',
            '\u{2060}', '\u{feff}', '\u{e0001}', '\u{e0041}', '\u{e007f}', '\u{061c}', '/', ':',
            '{', '}', '[', ']', ',', '…', '=', '&', '?', '@',
        ]),
        2 => proptest::char::range('a', 'e'),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => vec(nasty_char(), 0..40).prop_map(String::from_iter),
        1 => (vec(nasty_char(), 1..8), 1usize..150_000).prop_map(|(unit, n)| {
            let unit: String = unit.into_iter().collect();
            unit.repeat(n / unit.len() + 1)
        }),
    ]
}

fn list() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => vec(text(), 0..6),
        1 => (text(), 0usize..5000).prop_map(|(t, n)| vec![t; n]),
    ]
}

fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
    let key = prop_oneof![
        3 => vec(nasty_char(), 0..12).prop_map(String::from_iter),
        1 => prop::sample::select(vec![
            "level".to_owned(),
            "a".to_owned(),
            "a_1".to_owned(),
            "…[more]".to_owned(),
            "x".repeat(200),
            format!("{}y", "x".repeat(200)),
        ]),
    ];
    prop_oneof![
        4 => btree_map(key, text(), 0..6),
        1 => (0usize..3000).prop_map(|n| (0..n).map(|i| (format!("k{i}"), "v".repeat(i % 50))).collect()),
    ]
}

#[observed(event = "p.rec", fields(marker, s, list, map, line_truncated, nested))]
fn rec(
    marker: &str,
    s: &str,
    list: Vec<String>,
    map: BTreeMap<String, String>,
    line_truncated: &str,
    nested: Vec<Vec<String>>,
) -> usize {
    marker.len() + s.len() + list.len() + map.len() + line_truncated.len() + nested.len()
}

static N: AtomicU64 = AtomicU64::new(0);

fn check(marker: &str) -> serde_json::Value {
    let line = line_with(&format!("\"{marker}\""));
    assert!(line.len() < MAX_LINE, "{} bytes", line.len());
    if let Some(c) = line.chars().find(|c| forbidden(*c)) {
        panic!("raw {:?} in {line:?}", c);
    }
    parse_unique(&line).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn foreign_events(s in text(), t in text(), shape in 0u8..6) {
        capture("prop", "info");
        let marker = format!("pm-{}", N.fetch_add(1, Ordering::Relaxed));
        let m = marker.as_str();
        match shape {
            0 => tracing::info!(marker = m, v = %s, "{}", t),
            1 => tracing::warn!(marker = m, tenant_id = %s, level = %t, detail = ?s),
            2 => tracing::error!(marker = m, a = %s, a = %t, a_1 = %s, a_1 = s.len()),
            3 => tracing::info!(marker = m, event = %s, target = %t, message = %s),
            4 => observa::Context::new()
                .with_tenant_id(s.chars().take(300).collect::<String>())
                .with_correlation_id("c-1")
                .scope(|| {
                    tracing::info!(marker = m, tenant_id = %s, correlation_id = %t, trace_id = %s, span_id = %t, line_truncated = true)
                }),
            _ => tracing::error!(marker = m, error = %s, e2 = %s, e3 = %s, e4 = %s, e5 = %s, e6 = %s, e7 = %s, e8 = %s, e9 = %s, e10 = %s, e11 = %s, e12 = %s, e13 = %s, e14 = %s, e15 = %s, e16 = %s, e17 = %s, "{}", t),
        }
        let v = check(m);
        prop_assert_eq!(&v["marker"], m);
        if shape == 0 && s.len() <= 4096 && !s.contains("://") && v.get("line_truncated").is_none() {
            prop_assert_eq!(&v["v"], &s);
        }
    }

    #[test]
    fn recorded_values(s in text(), l in list(), mp in map(), lt in text(), nested in vec(list(), 0..3)) {
        capture("prop", "info");
        let marker = format!("pr-{}", N.fetch_add(1, Ordering::Relaxed));
        rec(&marker, &s, l, mp, &lt, nested);
        let v = check(&marker);
        prop_assert_eq!(&v["level"], "info");
        prop_assert_eq!(&v["event"], "p.rec.completed");
    }
}
