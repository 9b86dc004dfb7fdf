//! A small, allocation-free JSON writer used by every observa sink.
//!
//! Why not `serde_json`: the hot path writes one line per event into a reused buffer and must
//! neutralise and bound every text value on the way; doing that in one pass over the bytes is
//! several times cheaper than building a `serde_json::Value` and escaping afterwards.

use crate::record::{FieldValue, REDACTED};
use std::fmt::{self, Write as _};

/// Default bound for one text value, in bytes (before escaping).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4096;

/// The marker appended to a value cut at the size bound.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Maximum nesting written for objects and lists; deeper values become `"…"`.
const MAX_DEPTH: usize = 8;

/// Returns true for characters that must never reach a sink raw: C0 and C1 controls, DEL,
/// U+2028/U+2029 and the bidirectional controls (overrides, embeddings, isolates, marks).
#[inline]
pub fn is_dangerous(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7f..=0x9f).contains(&u)
        || matches!(
            u,
            0x2028 | 0x2029 | 0x200e | 0x200f | 0x061c | 0x202a..=0x202e | 0x2066..=0x2069
        )
}

/// Writes `s` as a JSON string: quotes, escapes and bounds it to `max` bytes of input.
pub fn write_str(out: &mut Vec<u8>, s: &str, max: usize) {
    out.push(b'"');
    write_str_body(out, s, max);
    out.push(b'"');
}

/// Writes the escaped body of a JSON string (without quotes), bounded to `max` input bytes.
pub fn write_str_body(out: &mut Vec<u8>, s: &str, max: usize) {
    let (s, cut) = bound(s, max);
    escape_into(out, s);
    if cut {
        out.extend_from_slice(TRUNCATION_MARKER.as_bytes());
    }
}

fn bound(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Fast path: printable ASCII other than '"' and '\\'.
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
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

fn push_u_escape(out: &mut Vec<u8>, u: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((u >> shift) & 0xf) as usize]);
    }
}

/// Writes `s` for a human console: dangerous characters become visible escapes (`\n`, `\u{1b}`),
/// bounded to `max` bytes.
pub fn write_console_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let (s, cut) = bound(s, max);
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if is_dangerous(c) => {
                let _ = write!(VecWriter(out), "\\u{{{:x}}}", c as u32);
            }
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    if cut {
        out.extend_from_slice(TRUNCATION_MARKER.as_bytes());
    }
}

/// `fmt::Write` into a byte vector.
#[derive(Debug)]
pub struct VecWriter<'a>(pub &'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Formats a `Display` value straight into a JSON string, escaping and bounding as it goes,
/// without an intermediate `String`.
pub fn write_display(out: &mut Vec<u8>, v: &dyn fmt::Display, max: usize) {
    struct Esc<'a> {
        out: &'a mut Vec<u8>,
        left: usize,
        cut: bool,
    }
    impl fmt::Write for Esc<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if self.cut {
                return Ok(());
            }
            let (part, cut) = bound(s, self.left);
            escape_into(self.out, part);
            self.left -= part.len();
            if cut {
                self.cut = true;
            }
            Ok(())
        }
    }
    out.push(b'"');
    let mut esc = Esc {
        out,
        left: max,
        cut: false,
    };
    // A Display impl that fails only loses its own text, never the line.
    let _ = write!(esc, "{v}");
    if esc.cut {
        esc.out.extend_from_slice(TRUNCATION_MARKER.as_bytes());
    }
    esc.out.push(b'"');
}

/// Writes an integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let _ = write!(VecWriter(out), "{v}");
}

/// Writes an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let _ = write!(VecWriter(out), "{v}");
}

/// Writes a float; non-finite values become strings so the line stays valid JSON.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = write!(VecWriter(out), "{v}");
    } else {
        let _ = write!(VecWriter(out), "\"{v}\"");
    }
}

/// Writes milliseconds with microsecond precision (`12.345`): fixed point, no float
/// formatting on the hot path. Non-finite or huge values fall back to [`write_f64`].
pub fn write_ms(out: &mut Vec<u8>, ms: f64) {
    if !(0.0..1e12).contains(&ms) {
        return write_f64(out, ms);
    }
    let micros = (ms * 1000.0).round() as u64;
    write_u64(out, micros / 1000);
    let frac = (micros % 1000) as u16;
    out.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

/// Writes a recorded value as JSON (nested objects and lists included).
pub fn write_value(out: &mut Vec<u8>, v: FieldValue<'_>, max: usize) {
    write_value_depth(out, v, max, 0);
}

fn write_value_depth(out: &mut Vec<u8>, v: FieldValue<'_>, max: usize, depth: usize) {
    match v {
        FieldValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        FieldValue::I64(i) => write_i64(out, i),
        FieldValue::U64(u) => write_u64(out, u),
        FieldValue::F64(f) => write_f64(out, f),
        FieldValue::Str(s) => write_str(out, s, max),
        FieldValue::Display(d) => write_display(out, d, max),
        FieldValue::Redacted => write_str(out, REDACTED, max),
        FieldValue::Null => out.extend_from_slice(b"null"),
        FieldValue::Object(_) | FieldValue::List(_) if depth >= MAX_DEPTH => {
            write_str(out, "…", max)
        }
        FieldValue::Object(obj) => {
            out.push(b'{');
            let mut first = true;
            obj.record_fields(&mut |k, v| {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_str(out, k, 128);
                out.push(b':');
                write_value_depth(out, v, max, depth + 1);
            });
            out.push(b'}');
        }
        FieldValue::List(list) => {
            out.push(b'[');
            let mut first = true;
            list.record_items(&mut |v| {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_value_depth(out, v, max, depth + 1);
            });
            out.push(b']');
        }
    }
}

/// The JSON text of a recorded value.
pub fn to_json_string(v: FieldValue<'_>) -> String {
    let mut out = Vec::new();
    write_value(&mut out, v, DEFAULT_MAX_VALUE_BYTES);
    String::from_utf8(out).unwrap_or_default()
}

/// `Display` of a recorded value: strings as their (neutralised) text, everything else as JSON.
/// This is what span attributes and foreign subscribers see.
#[derive(Debug)]
pub struct DisplayValue<'a>(pub FieldValue<'a>);

impl fmt::Display for DisplayValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        match self.0 {
            FieldValue::Str(s) => write_str_body(&mut out, s, DEFAULT_MAX_VALUE_BYTES),
            FieldValue::Redacted => out.extend_from_slice(REDACTED.as_bytes()),
            v => write_value(&mut out, v, DEFAULT_MAX_VALUE_BYTES),
        }
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s, 64);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_every_dangerous_character() {
        let input = "a\r\nb\u{1b}[31m\u{7f}\u{85}\u{2028}\u{2029}\u{202e}\u{2066}\"\\";
        let out = js(input);
        for c in out.chars() {
            assert!(!is_dangerous(c), "raw {c:?} in {out}");
        }
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, input);
    }

    #[test]
    fn bounds_on_char_boundary_with_marker() {
        let s = "é".repeat(100);
        let out = js(&s);
        assert!(out.ends_with(&format!("{TRUNCATION_MARKER}\"")));
        let back: String = serde_json::from_str(&out).unwrap();
        assert!(back.len() <= 64 + TRUNCATION_MARKER.len());
    }

    #[test]
    fn milliseconds_are_fixed_point() {
        for (v, want) in [
            (0.0876, "0.088"),
            (12.0, "12.000"),
            (1.0005, "1.001"),
            (1e13, "10000000000000"),
        ] {
            let mut out = Vec::new();
            write_ms(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn display_is_escaped_and_bounded() {
        let mut out = Vec::new();
        write_display(&mut out, &format_args!("x\ny{}", "z".repeat(100)), 10);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, format!("x\nyzzzzzzz{TRUNCATION_MARKER}"));
    }
}
