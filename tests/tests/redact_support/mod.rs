//! The canary harness shared by the redaction leak tests: canary strategies, the encoded forms
//! and pieces that must not appear, and panic capture.

#![allow(dead_code)] // each test binary uses a part

use base64::Engine as _;
use proptest::prelude::*;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that keeps the message of a panic on the current thread instead
/// of printing it.
pub fn capture_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let captured = PANIC_MESSAGE.with(|m| {
                let mut m = m.borrow_mut();
                if m.is_some() {
                    // A capture is armed on this thread: keep the full report.
                    *m = Some(info.to_string());
                    true
                } else {
                    false
                }
            });
            if !captured {
                default(info);
            }
        }));
    });
}

/// Runs `f`, which must panic, and returns the panic report (message and location).
pub fn panic_report(f: impl FnOnce()) -> String {
    capture_panics();
    PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(String::new()));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let report = PANIC_MESSAGE
        .with(|m| m.borrow_mut().take())
        .unwrap_or_default();
    assert!(result.is_err(), "expected a panic");
    assert!(!report.is_empty(), "panic report not captured");
    report
}

/// The forms of `canary` that must not appear (besides its pieces).
pub fn encoded_forms(canary: &str) -> Vec<(&'static str, String)> {
    let b = canary.as_bytes();
    let json = serde_json::to_string(canary).expect("json");
    let debug = format!("{canary:?}");
    let mut forms = vec![
        ("raw", canary.to_owned()),
        ("json_escaped", json[1..json.len() - 1].to_owned()),
        ("json_ascii_escaped", json_ascii(canary)),
        ("debug_escaped", debug[1..debug.len() - 1].to_owned()),
        (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(b),
        ),
        (
            "base64_url",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
        ),
        ("hex", hex(b, false)),
        ("hex_upper", hex(b, true)),
        ("url_encoded", url_encode(b, true)),
        ("url_encoded_lower", url_encode(b, false)),
    ];
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

pub fn json_ascii(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

pub fn hex(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|x| {
            if upper {
                format!("{x:02X}")
            } else {
                format!("{x:02x}")
            }
        })
        .collect()
}

pub fn url_encode(b: &[u8], upper: bool) -> String {
    let mut out = String::new();
    for &x in b {
        if x.is_ascii_alphanumeric() || b"-._~".contains(&x) {
            out.push(x as char);
        } else if upper {
            out.push_str(&format!("%{x:02X}"));
        } else {
            out.push_str(&format!("%{x:02x}"));
        }
    }
    out
}

/// The `n`-character windows of `s` (the whole of `s` when shorter).
pub fn windows(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= n {
        return vec![s.to_owned()];
    }
    chars.windows(n).map(|w| w.iter().collect()).collect()
}

/// Fails when any form or piece of `canary` appears in any output.
pub fn assert_no_leak(canary: &str, outputs: &[(&'static str, String)]) {
    // Pieces of the raw canary: 8 characters; 4 for windows that contain a non-ASCII character
    // (those cannot occur in the ASCII scaffolding of the output by chance).
    let mut pieces: Vec<(String, String)> = windows(canary, 8)
        .into_iter()
        .map(|w| ("raw piece".to_owned(), w))
        .collect();
    pieces.extend(
        windows(canary, 4)
            .into_iter()
            .filter(|w| !w.is_ascii())
            .map(|w| ("raw 4-piece".to_owned(), w)),
    );
    for (form, encoded) in encoded_forms(canary) {
        pieces.push((format!("{form} (whole)"), encoded.clone()));
        pieces.extend(
            windows(&encoded, 8)
                .into_iter()
                .map(|w| (format!("{form} piece"), w)),
        );
    }
    for (sink, out) in outputs {
        for (what, piece) in &pieces {
            assert!(
                !out.contains(piece.as_str()),
                "canary {canary:?} leaked into {sink} as {what} {piece:?}:\n{out}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Canaries.

/// ASCII canaries with the characters escapers care about.
pub fn ascii_canary() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9]{4}[A-Za-z0-9 \"\\\\/<>&%+=@.:\n\t-]{8,28}")
        .expect("regex")
}

/// Canaries mostly outside ASCII: Latin-1, Cyrillic, CJK, emoji, combining marks, bidi and
/// line separators.
pub fn unicode_canary() -> impl Strategy<Value = String> {
    let pool: Vec<char> = "éàüßøñЖДЯжщ漢字日本語한글🔑🦀✓\u{301}\u{202e}\u{2028}ÆŒ"
        .chars()
        .chain('a'..='z')
        .collect();
    proptest::collection::vec(proptest::sample::select(pool), 12..32)
        .prop_map(|v| v.into_iter().collect::<String>())
        .prop_filter("mostly non-ASCII", |s| {
            s.chars().filter(|c| !c.is_ascii()).count() * 2 >= s.chars().count()
        })
}

pub fn canary() -> impl Strategy<Value = String> {
    prop_oneof![ascii_canary(), unicode_canary()]
}
