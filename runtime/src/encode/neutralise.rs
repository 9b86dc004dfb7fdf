//! The one neutraliser: which characters never reach a sink raw, and how each sink writes them.
//!
//! Every sink goes through here: JSON lines (stdout and the rotated file, [`escape_json`]), the
//! console format ([`escape_console`]), the audit fallback (already-serialised JSON,
//! [`neutralise_json`]) and anything else that shows untrusted text ([`neutralise`]).
//!
//! Dangerous characters ([`is_dangerous`]): C0 controls, DEL, C1 controls (ESC included),
//! U+2028/U+2029, the bidirectional controls (marks, embeddings, overrides, isolates, U+061C),
//! zero-width and invisible characters (U+200B..U+200D, U+2060..U+2064, U+180E), the byte-order
//! mark U+FEFF and the tag block U+E0000..U+E007F. In JSON they become `\uXXXX` escapes
//! (surrogate pairs above U+FFFF), so a parser gets the original text back and a terminal or a
//! human reading the raw line sees an escape instead of an invisible or reordering character.
//! On the console they become `\u{..}` (and `\n`, `\r`, `\t`).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Returns true for characters that must never reach a sink raw (see the module docs).
#[inline]
pub fn is_dangerous(c: char) -> bool {
    let u = c as u32;
    u < 0x20 || (0x7f..=0x9f).contains(&u) || (u >= 0x061c && is_dangerous_above_ascii(u))
}

#[inline]
fn is_dangerous_above_ascii(u: u32) -> bool {
    matches!(
        u,
        0x061c
            | 0x180e
            | 0x200b..=0x200f
            | 0x2028..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x2069
            | 0xfeff
            | 0xe0000..=0xe007f
    )
}

/// Appends `s` escaped as the body of a JSON string (no quotes): `"` and `\` escaped, every
/// dangerous character as `\uXXXX`.
pub fn escape_json(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if all_plain(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Runs of printable ASCII other than '"' and '\\' are copied whole: skip them a word at
        // a time (most text has nothing to escape).
        i += plain_run(&bytes[i..]);
        if i >= bytes.len() {
            break;
        }
        let b = bytes[i];
        if b < 0x80 {
            out.extend_from_slice(&bytes[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => push_u_escape(out, b as u32),
            }
            i += 1;
            start = i;
            continue;
        }
        // Multi-byte: decode one char.
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        let len = c.len_utf8();
        if is_dangerous(c) {
            out.extend_from_slice(&bytes[start..i]);
            push_u_escape(out, c as u32);
            start = i + len;
        }
        i += len;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Printable ASCII other than '"' and '\\': written as is in a JSON string.
#[inline]
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// Nonzero when some byte of `w` is below 0x20, '"', '\\', or 0x7f and above. Exact as a test
/// (no false negatives); which byte it is is found again byte by byte.
#[inline]
fn special(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let high = (w.wrapping_add(ONES) | w) & HIGH;
    control | high | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
}

/// `b` read as one word (its first eight bytes).
#[inline]
fn word(b: &[u8]) -> u64 {
    u64::from_ne_bytes(b.get(..8).and_then(|w| w.try_into().ok()).unwrap_or([0; 8]))
}

/// True when every byte of `b` is [`is_plain`]: the common case (keys, names, ids, most text),
/// written with one copy. Words overlap at the end instead of a byte loop over the tail.
#[inline]
fn all_plain(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        if n < 4 {
            return b.iter().all(|&c| is_plain(c));
        }
        let half = |h: &[u8]| u32::from_ne_bytes(h.try_into().unwrap_or([0; 4]));
        let w = u64::from(half(&b[..4])) | u64::from(half(&b[n - 4..])) << 32;
        return special(w) == 0;
    }
    let mut i = 0;
    while i + 8 < n {
        if special(word(&b[i..])) != 0 {
            return false;
        }
        i += 8;
    }
    special(word(&b[n - 8..])) == 0
}

/// Length of the leading run of [`is_plain`] bytes of `b`, eight bytes per step (bit tricks on
/// a `u64`: no `unsafe`, no SIMD dependency for a few compares).
#[inline]
pub(crate) fn plain_run(b: &[u8]) -> usize {
    let mut i = 0;
    while i + 8 <= b.len() && special(word(&b[i..])) == 0 {
        i += 8;
    }
    while i < b.len() && is_plain(b[i]) {
        i += 1;
    }
    i
}

/// `\uXXXX`, or a surrogate pair for a character above U+FFFF (what JSON requires).
pub(crate) fn push_u_escape(out: &mut Vec<u8>, u: u32) {
    if u > 0xffff {
        let v = u - 0x1_0000;
        push_u4(out, 0xd800 | (v >> 10));
        push_u4(out, 0xdc00 | (v & 0x3ff));
    } else {
        push_u4(out, u);
    }
}

fn push_u4(out: &mut Vec<u8>, u: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(super::hex::DIGITS[((u >> shift) & 0xf) as usize]);
    }
}

/// Appends `s` for a human console: `\n`, `\r`, `\t` and `\u{..}` for every other dangerous
/// character; everything else as is.
pub fn escape_console(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if !is_dangerous(c) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c => {
                let _ = write!(super::json::VecWriter(out), "\\u{{{:x}}}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `s` with every dangerous character made visible (the console escapes): for any text shown
/// outside observa's own sinks (error messages, CLI output). Borrows when nothing changes.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len() + 16);
    escape_console(&mut out, s);
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// Serialised JSON text (from `serde_json` or elsewhere) with every dangerous character that is
/// still raw replaced by its `\uXXXX` escape. Dangerous characters can only be inside strings
/// in valid JSON (structure is ASCII, and a raw control character is invalid anywhere), so the
/// result parses to the same value. Borrows when nothing changes.
pub fn neutralise_json(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 16);
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if is_dangerous(c) {
            out.extend_from_slice(&bytes[start..i]);
            match c {
                // Outside a string (between tokens) these are whitespace in JSON: keep their
                // meaning but never a raw line break.
                '\n' | '\r' | '\t' => out.push(b' '),
                c => push_u_escape(&mut out, c as u32),
            }
            start = i + c.len_utf8();
        }
    }
    out.extend_from_slice(&bytes[start..]);
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVISIBLE: &[char] = &[
        '\u{200b}',
        '\u{200c}',
        '\u{200d}',
        '\u{2060}',
        '\u{feff}',
        '\u{e0000}',
        '\u{e0041}',
        '\u{e007f}',
        '\u{202e}',
        '\u{2066}',
        '\u{85}',
        '\u{1b}',
        '\u{7f}',
        '\u{2028}',
    ];

    #[test]
    fn invisible_characters_are_dangerous() {
        for c in INVISIBLE {
            assert!(is_dangerous(*c), "{:x}", *c as u32);
        }
        for c in ['a', 'é', '€', '😀', '\u{e0080}', '\u{2070}', '\u{200a}'] {
            assert!(!is_dangerous(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn json_escapes_round_trip_including_supplementary_planes() {
        let s: String = INVISIBLE.iter().chain(['x', '"', '\\'].iter()).collect();
        let mut out = b"\"".to_vec();
        escape_json(&mut out, &s);
        out.push(b'"');
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(is_dangerous), "{text}");
        assert!(text.contains("\\udb40\\udc41"), "{text}");
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }

    /// The byte-at-a-time escaper the word-at-a-time scan must agree with.
    fn escape_json_slow(out: &mut Vec<u8>, s: &str) {
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if is_dangerous(c) => push_u_escape(out, c as u32),
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }

    #[test]
    fn word_scan_agrees_with_the_char_by_char_escaper() {
        let alphabet: Vec<char> = "abcXYZ09 ~!\"\\\n\r\t\u{0}\u{1f}\u{7f}\u{80}\u{9f}\u{a0}é€😀"
            .chars()
            .chain(INVISIBLE.iter().copied())
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..200 {
            for _ in 0..20 {
                let s: String = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Mostly plain text, so long runs are exercised too.
                        if x.is_multiple_of(4) {
                            alphabet[(x >> 8) as usize % alphabet.len()]
                        } else {
                            (b' ' + ((x >> 8) % 95) as u8) as char
                        }
                    })
                    .collect();
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                escape_json(&mut fast, &s);
                escape_json_slow(&mut slow, &s);
                assert_eq!(fast, slow, "{s:?}");
            }
        }
    }

    #[test]
    fn serialised_json_is_neutralised_without_changing_its_value() {
        let v = serde_json::json!({"a": "x\u{200b}y\u{e0041}\u{85}", "b": ["\u{feff}"]});
        let text = v.to_string();
        let n = neutralise_json(&text);
        assert!(!n.chars().any(is_dangerous), "{n}");
        let back: serde_json::Value = serde_json::from_str(&n).unwrap();
        assert_eq!(back, v);
        assert!(matches!(neutralise_json("{\"a\":1}"), Cow::Borrowed(_)));
    }

    #[test]
    fn console_text_shows_escapes() {
        assert_eq!(neutralise("a\u{200b}b\nc"), "a\\u{200b}b\\nc");
        assert!(matches!(neutralise("plain"), Cow::Borrowed(_)));
    }
}
