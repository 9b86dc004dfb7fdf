//! The console line: `<timestamp> LEVEL event message`, then every field as a logfmt
//! `key=value` pair: `target`, the bound context, `trace_id`/`span_id`, then the event's fields
//! (`line_truncated=true` last when the line was cut). Colours (level, event) when asked.
//!
//! **Values (logfmt).** A value is written bare when it is not empty and has no space (nor any
//! other whitespace), `=`, `"` or dangerous character; otherwise it is double-quoted, with `"`
//! written `\"` and `\` written `\\`. Dangerous characters are made visible by the one
//! neutraliser ([`escape_console`]: `\n`, `\r`, `\t`, `\u{..}`), so a value never breaks the
//! line. Numbers and booleans are bare. A nested object or list (a `Redact` type in
//! `fields(...)`) is one quoted value holding its compact JSON text, e.g.
//! `customer="{\"tier\":\"gold\",\"card\":\"[REDACTED]\"}"`: unquote it and it parses as JSON.
//! The message after the event is bare neutralised text, as before.

use super::{Head, ID_KEYS, LineFormat, MARKER_ROOM, level_str, put_members, write_done};
use crate::encode::text::cut as bounded;
use crate::log::json::{self, VecWriter};
use crate::log::line::{self, Copier, Member, Style};
use crate::log::neutralise::{escape_console, is_dangerous};
use std::fmt::Write as _;
use tracing::Level;

/// The console line format.
pub(in crate::log) struct Console;

/// Whether `c` forces a logfmt value into quotes.
#[inline]
fn needs_quote(c: char) -> bool {
    c == ' ' || c == '=' || c == '"' || c.is_whitespace() || is_dangerous(c)
}

/// Appends `s` as the inside of a quoted logfmt value: `\"`, `\\` and the neutraliser's
/// visible escapes.
fn escape_quoted(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            c if is_dangerous(c) => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            escape_console(out, &s[i..i + c.len_utf8()]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a logfmt value, bounded to `max` input bytes with the truncation marker.
pub(in crate::log) fn write_value(out: &mut Vec<u8>, s: &str, max: usize) {
    let (s, cut) = bounded(s, max);
    let marker = if cut { json::TRUNCATION_MARKER } else { "" };
    let quote = (s.is_empty() && marker.is_empty())
        || s.chars().any(needs_quote)
        || marker.chars().any(needs_quote);
    if quote {
        out.push(b'"');
        escape_quoted(out, s);
        escape_quoted(out, marker);
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(marker.as_bytes());
    }
}

const fn level_color(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "\x1b[35m",
        Level::DEBUG => "\x1b[34m",
        Level::INFO => "\x1b[32m",
        Level::WARN => "\x1b[33m",
        Level::ERROR => "\x1b[31m",
    }
}

impl LineFormat for Console {
    const KEY_STYLE: Style = Style::Console;
    const MESSAGE_QUOTED: bool = false;

    #[inline]
    fn escape_key(out: &mut Vec<u8>, name: &str) {
        escape_console(out, name);
    }

    #[inline]
    fn text(out: &mut Vec<u8>, s: &str, max: usize) {
        write_value(out, s, max);
    }

    #[inline]
    fn word(out: &mut Vec<u8>, w: &str) {
        out.extend_from_slice(w.as_bytes());
    }

    #[inline]
    fn message(out: &mut Vec<u8>, s: &str, max: usize) {
        json::write_console_str(out, s, max);
    }

    #[inline]
    fn escape_message(out: &mut Vec<u8>, one: &str) {
        escape_console(out, one);
    }

    /// Strings as logfmt values, numbers and literals bare, objects and lists as one quoted
    /// compact JSON text.
    fn copied_value(
        c: &mut Copier<'_>,
        out: &mut Vec<u8>,
        members: &mut Vec<Member>,
        tmp: &mut String,
    ) -> Option<()> {
        match c.peek()? {
            b'"' => {
                let v = c.text(tmp)?;
                write_value(out, &crate::scrub::scrub(v), c.max);
            }
            b'{' | b'[' => {
                let at = out.len();
                c.value(out, members, tmp, 0)?;
                let nested = out.split_off(at);
                // JSON written by the copier: UTF-8, every string already bounded.
                write_value(out, std::str::from_utf8(&nested).ok()?, usize::MAX);
            }
            _ => c.value(out, members, tmp, 0)?,
        }
        Some(())
    }

    fn write_line(
        head: &Head<'_>,
        line: &mut Vec<u8>,
        text: &mut Vec<u8>,
        rest: &[u8],
        members: &[Member],
    ) -> bool {
        let max_line = head.max_line;
        let mut truncated = false;
        crate::encode::time::write_timestamp_nanos(line, head.now);
        line.push(b' ');
        if head.color {
            line.extend_from_slice(level_color(head.level).as_bytes());
        }
        let _ = write!(
            VecWriter(line),
            "{:<5}",
            level_str(head.level).to_ascii_uppercase()
        );
        if head.color {
            line.extend_from_slice(b"\x1b[0m\x1b[1m");
        }
        line.push(b' ');
        json::write_console_str(line, head.event, 256);
        if head.color {
            line.extend_from_slice(b"\x1b[0m");
        }
        // What follows the message, written first so the message knows its room.
        text.extend_from_slice(b" target=");
        write_value(text, head.target, 256);
        for (k, v) in ID_KEYS.iter().zip(head.ids) {
            if let Some(v) = v {
                let _ = write!(VecWriter(text), " {k}=");
                write_value(text, v, 256);
            }
        }
        for ((k, v), renamed) in head.bound.iter().zip(head.bound_renamed) {
            let suffix = if *renamed { "_1" } else { "" };
            let _ = write!(VecWriter(text), " {k}{suffix}=");
            write_value(text, v, 256);
        }
        if let Some((t, sp)) = head.trace {
            text.extend_from_slice(b" trace_id=");
            write_value(text, t, 64);
            text.extend_from_slice(b" span_id=");
            write_value(text, sp, 64);
        }
        if let Some(m) = head.message {
            line.push(b' ');
            let cap = max_line.saturating_sub(line.len() + text.len() + 1 + MARKER_ROOM);
            truncated |= line::write_text_capped::<Console>(line, m, head.max_value, cap);
        }
        line.extend_from_slice(text);
        if let Some(done) = head.done {
            write_done::<Console>(line, done, head.max_value);
        }
        let avail = max_line.saturating_sub(line.len() + 1 + MARKER_ROOM);
        truncated |= put_members(line, rest, members, avail);
        if truncated {
            line.push(b' ');
            line.extend_from_slice(line::TRUNCATED_KEY.as_bytes());
            line.extend_from_slice(b"=true");
        }
        line.push(b'\n');
        truncated
    }
}

#[cfg(test)]
mod tests {
    use super::write_value;

    fn v(s: &str, max: usize) -> String {
        let mut out = Vec::new();
        write_value(&mut out, s, max);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn logfmt_values_are_bare_only_when_safe() {
        assert_eq!(v("plain-7", 100), "plain-7");
        assert_eq!(v(r"C:\tmp", 100), r"C:\tmp");
        assert_eq!(v("", 100), r#""""#);
        assert_eq!(v("a b", 100), r#""a b""#);
        assert_eq!(v("a=b", 100), r#""a=b""#);
        assert_eq!(v(r#"say "hi" \o/"#, 100), r#""say \"hi\" \\o/""#);
        assert_eq!(v("a\nb\u{200b}", 100), r#""a\nb\u{200b}""#);
        assert_eq!(v("abcdef", 3), "abc…[truncated]");
        assert_eq!(v("a cdef", 3), "\"a c…[truncated]\"");
    }
}
