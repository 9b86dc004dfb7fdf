//! A small, allocation-free JSON writer used by every observa sink.
//!
//! Why not `serde_json`: the hot path writes one line per event into a reused buffer and must
//! neutralise and bound every text value on the way; doing that in one pass over the bytes is
//! several times cheaper than building a `serde_json::Value` and escaping afterwards.

use crate::record::{FieldValue, REDACTED};
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default bound for one text value, in bytes (before escaping).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4096;

pub use super::text::TRUNCATION_MARKER;

/// Maximum nesting written for objects and lists; deeper values become `"…"`.
const MAX_DEPTH: usize = 8;

pub use super::neutralise::is_dangerous;

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

use super::text::cut as bound;

#[inline]
fn escape_into(out: &mut Vec<u8>, s: &str) {
    super::neutralise::escape_json(out, s);
}

/// Writes `s` for a human console: dangerous characters become visible escapes (`\n`, `\u{1b}`),
/// bounded to `max` bytes.
pub fn write_console_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let (s, cut) = bound(s, max);
    super::neutralise::escape_console(out, s);
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

/// Writes an integer: its decimal digits, as `{v}` would (`itoa`: `core::fmt`'s machinery costs
/// several times the digits on the hot path).
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes an unsigned integer (as [`write_i64`]).
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes a float as `{v}` writes it; non-finite values become strings so the line stays valid
/// JSON.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        if !write_f64_short(out, v) {
            let _ = write!(VecWriter(out), "{v}");
        }
    } else {
        let _ = write!(VecWriter(out), "\"{v}\"");
    }
}

/// The common floats (amounts, ratios, durations: at most three decimals, below 1e9 in
/// magnitude) without `core::fmt`'s shortest-digits search; false (nothing written) for any
/// other value. The text is the one `{v}` writes: `m / 1000.0 == |v|` means the decimal
/// `m/1000` reads back as `v`, and no other decimal with as few digits does (any two differ by
/// at least 0.001, far more than the spacing of floats below 1e9), so it is the shortest.
fn write_f64_short(out: &mut Vec<u8>, v: f64) -> bool {
    let a = v.abs();
    if v.to_bits() == 0 {
        out.push(b'0');
        return true;
    }
    if !(a > 0.0 && a < 1e9) {
        return false;
    }
    let m = (a * 1000.0).round();
    if m / 1000.0 != a {
        return false;
    }
    let m = m as u64;
    if v < 0.0 {
        out.push(b'-');
    }
    write_u64(out, m / 1000);
    let frac = (m % 1000) as u16;
    if frac != 0 {
        let digits = [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        let keep = if frac.is_multiple_of(100) {
            2
        } else if frac.is_multiple_of(10) {
            3
        } else {
            4
        };
        out.extend_from_slice(&digits[..keep]);
    }
    true
}

/// Writes milliseconds with microsecond precision (`12.345`): fixed point, no float
/// formatting on the hot path. Non-finite or huge values fall back to [`write_f64`].
pub fn write_ms(out: &mut Vec<u8>, ms: f64) {
    if !(0.0..1e12).contains(&ms) {
        return write_f64(out, ms);
    }
    // `round()` (half away from zero) without its libm call: the truncation is one
    // instruction, and `x - t` is exact here (Sterbenz: `t <= x < 2t` once `t >= 1`).
    let x = ms * 1000.0;
    let t = x as u64;
    let micros = t + u64::from(x - t as f64 >= 0.5);
    // The whole number assembled on the stack, then one copy into the line.
    let mut itoa = itoa::Buffer::new();
    let int = itoa.format(micros / 1000).as_bytes();
    let frac = (micros % 1000) as u16;
    let mut buf = [0u8; 24];
    let n = int.len();
    buf[..n].copy_from_slice(int);
    buf[n..n + 4].copy_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
    out.extend_from_slice(&buf[..n + 4]);
}

/// Default bound of a whole log line, in bytes (`OBSERVA_LOG_MAX_LINE_BYTES`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// Smallest accepted line bound: room for the canonical fields at their own bounds.
pub const MIN_MAX_LINE_BYTES: usize = 16 * 1024;

/// Items of one list or entries of one map written in a log line; the rest is counted in a
/// marker (the last list item `"…[+N items]"`, or the map key [`MORE_KEY`]).
pub const MAX_ITEMS: usize = 1000;

/// Key of the marker entry of a map cut at [`MAX_ITEMS`]; its value is the number of entries
/// left out.
pub const MORE_KEY: &str = "…[more]";

static MAX_VALUE: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_VALUE_BYTES);
static MAX_LINE: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_LINE_BYTES);

/// Installs the configured bounds (done by [`crate::init`]).
pub(crate) fn set_limits(max_value: usize, max_line: usize) {
    MAX_VALUE.store(max_value.max(16), Ordering::Relaxed);
    MAX_LINE.store(max_line.max(MIN_MAX_LINE_BYTES), Ordering::Relaxed);
}

/// The configured bound of one text value (`OBSERVA_LOG_MAX_VALUE_BYTES`).
pub fn max_value_bytes() -> usize {
    MAX_VALUE.load(Ordering::Relaxed)
}

/// The configured bound of a whole line (`OBSERVA_LOG_MAX_LINE_BYTES`).
pub fn max_line_bytes() -> usize {
    MAX_LINE.load(Ordering::Relaxed)
}

/// How much of a recorded value is written.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Bytes of one text value (before escaping).
    pub max_value: usize,
    /// Items of one list, entries of one map.
    pub max_items: usize,
    /// Bytes of the whole value's JSON: items past it are left out (and counted in the marker).
    pub max_bytes: usize,
}

impl Bounds {
    /// No bound but `max_value` on text.
    pub const fn text(max_value: usize) -> Bounds {
        Bounds {
            max_value,
            max_items: usize::MAX,
            max_bytes: usize::MAX,
        }
    }

    /// The bounds of a value in a log line: the configured value and line bounds, [`MAX_ITEMS`].
    pub fn log() -> Bounds {
        Bounds {
            max_value: max_value_bytes(),
            max_items: MAX_ITEMS,
            max_bytes: max_line_bytes(),
        }
    }
}

/// Writes a recorded value as JSON (nested objects and lists included).
pub fn write_value(out: &mut Vec<u8>, v: FieldValue<'_>, max: usize) {
    write_value_bounded(out, v, Bounds::text(max));
}

/// Writes a recorded value of a log line (`fields(...)`, `ret`): [`Bounds::log`].
pub fn write_field_value(out: &mut Vec<u8>, v: FieldValue<'_>) {
    write_value_bounded(out, v, Bounds::log());
}

/// Writes a recorded value as JSON within `b`.
pub fn write_value_bounded(out: &mut Vec<u8>, v: FieldValue<'_>, b: Bounds) {
    let start = out.len();
    write_value_depth(out, v, &b, start, 0);
}

fn write_value_depth(out: &mut Vec<u8>, v: FieldValue<'_>, b: &Bounds, start: usize, depth: usize) {
    let max = b.max_value;
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
            let mut n = 0usize;
            let mut left = 0usize;
            obj.record_fields(&mut |k, v| {
                if n >= b.max_items || out.len() - start > b.max_bytes {
                    left += 1;
                    return;
                }
                if n > 0 {
                    out.push(b',');
                }
                n += 1;
                write_str(out, k, 128);
                out.push(b':');
                write_value_depth(out, v, b, start, depth + 1);
            });
            if left > 0 {
                if n > 0 {
                    out.push(b',');
                }
                write_str(out, MORE_KEY, 128);
                out.push(b':');
                write_u64(out, left as u64);
            }
            out.push(b'}');
        }
        FieldValue::List(list) => {
            out.push(b'[');
            let mut n = 0usize;
            let mut left = 0usize;
            list.record_items(&mut |v| {
                if n >= b.max_items || out.len() - start > b.max_bytes {
                    left += 1;
                    return;
                }
                if n > 0 {
                    out.push(b',');
                }
                n += 1;
                write_value_depth(out, v, b, start, depth + 1);
            });
            if left > 0 {
                if n > 0 {
                    out.push(b',');
                }
                let _ = write!(VecWriter(out), "\"…[+{left} items]\"");
            }
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
            FieldValue::Str(s) => write_str_body(&mut out, s, max_value_bytes()),
            FieldValue::Redacted => out.extend_from_slice(REDACTED.as_bytes()),
            v => write_value_bounded(&mut out, v, Bounds::log()),
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
    fn milliseconds_round_as_f64_round_does() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values = vec![
            0.0,
            0.0004999999999999999,
            0.0005,
            0.000_499_999_999_999_999_9,
            0.4995,
            2.5e-4,
            999_999_999_999.999_5,
        ];
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Spread over magnitudes, and exact halves of a microsecond.
            values.push((x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 13) as i32 - 3));
            values.push(((x >> 20) % 1_000_000) as f64 / 1000.0 + 0.0005);
        }
        for v in values {
            let micros = (v * 1000.0).round() as u64;
            let want = format!("{}.{:03}", micros / 1000, micros % 1000);
            let mut out = Vec::new();
            write_ms(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{v:e}");
        }
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut floats = vec![
            0.0,
            -0.0,
            12.5,
            -12.5,
            1.0,
            0.1,
            0.001,
            0.0005,
            1e-7,
            999_999_999.999,
            1e9,
            1e21,
            123.456,
            0.3,
            2.675,
            1e15,
            -1.25e-3,
            f64::MIN_POSITIVE,
            f64::MAX,
            5e-324,
        ];
        for _ in 0..20_000 {
            let r = next();
            floats.push(f64::from_bits(r));
            floats.push((r % 2_000_000_000) as f64 / 1000.0 - 1e6);
            floats.push((r % 100_000) as f64 / [1.0, 10.0, 100.0, 1000.0, 1e4][(r % 5) as usize]);
        }
        for v in floats.into_iter().filter(|v| v.is_finite()) {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{v}"), "{v:e}");
        }
        for v in [0, 1, 9, 10, 99, 100, u64::MAX, next(), next() >> 20] {
            let mut out = Vec::new();
            write_u64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        for v in [
            0,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            next() as i64,
            -((next() >> 9) as i64),
        ] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
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
