//! The JSON line: one object per line, `timestamp`, `level`, `event`, `target`, the bound
//! context, the event's fields, then `message` (kept before any field when the line is cut).
//! Values are written by the crate's one JSON writer ([`crate::encode::json`]).

use super::{Head, ID_OPEN, LineFormat, MARKER_ROOM, level_str, put_members, write_done};
use crate::log::json;
use crate::log::line::{self, Copier, Member, Style};
use crate::log::neutralise::escape_json;
use tracing::Level;

/// The JSON line format.
pub(in crate::log) struct Json;

impl LineFormat for Json {
    const KEY_STYLE: Style = Style::Json;
    const MESSAGE_QUOTED: bool = true;

    #[inline]
    fn escape_key(out: &mut Vec<u8>, name: &str) {
        escape_json(out, name);
    }

    #[inline]
    fn text(out: &mut Vec<u8>, s: &str, max: usize) {
        json::write_str(out, s, max);
    }

    #[inline]
    fn word(out: &mut Vec<u8>, w: &str) {
        out.push(b'"');
        out.extend_from_slice(w.as_bytes());
        out.push(b'"');
    }

    #[inline]
    fn message(out: &mut Vec<u8>, s: &str, max: usize) {
        json::write_str(out, s, max);
    }

    #[inline]
    fn escape_message(out: &mut Vec<u8>, one: &str) {
        escape_json(out, one);
    }

    #[inline]
    fn copied_value(
        c: &mut Copier<'_>,
        out: &mut Vec<u8>,
        members: &mut Vec<Member>,
        tmp: &mut String,
    ) -> Option<()> {
        // A number (a common recorded value) is read without the general reader's dispatch: the
        // reader's own number grammar, as `value` applies it.
        match c.peek()? {
            b'-' | b'0'..=b'9' => c.number(out),
            _ => c.value(out, members, tmp, 0),
        }
    }

    #[inline]
    fn fixed_head(
        slot: &'static crate::completion::HeadSlot,
        level: &Level,
        event: &str,
        target: &str,
    ) -> Option<&'static [u8]> {
        Some(slot.get_or_render(|| {
            let mut v = Vec::new();
            write_fixed(&mut v, level, event, target);
            v.into_boxed_slice()
        }))
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
        line.extend_from_slice(b"{\"timestamp\":\"");
        crate::encode::time::write_timestamp_nanos(line, head.now);
        line.extend_from_slice(b"\",");
        match head.fixed {
            Some(f) => line.extend_from_slice(f),
            None => write_fixed(line, head.level, head.event, head.target),
        }
        for (open, v) in ID_OPEN.iter().zip(head.ids) {
            if let Some(v) = v {
                line.extend_from_slice(open.as_bytes());
                json::write_str_body(line, v, 256);
                line.push(b'"');
            }
        }
        for ((k, v), renamed) in head.bound.iter().zip(head.bound_renamed) {
            line.extend_from_slice(b",\"");
            line.extend_from_slice(k.as_bytes());
            if *renamed {
                line.extend_from_slice(b"_1");
            }
            line.extend_from_slice(b"\":");
            json::write_str(line, v, 256);
        }
        if let Some((t, sp)) = head.trace {
            // Lowercase hex digits: nothing to escape or bound.
            line.extend_from_slice(b",\"trace_id\":\"");
            line.extend_from_slice(t.ascii());
            line.extend_from_slice(b"\",\"span_id\":\"");
            line.extend_from_slice(sp.ascii());
            line.push(b'"');
        }
        // The message (last in the line) is kept before any field.
        if let Some(m) = head.message {
            text.extend_from_slice(b",\"message\":");
            let cap = max_line.saturating_sub(line.len() + text.len() + 2 + MARKER_ROOM);
            truncated |= line::write_text_capped::<Json>(text, m, head.max_value, cap);
        }
        if let Some(done) = head.done {
            write_done::<Json>(line, done, head.max_value);
        }
        let avail = max_line.saturating_sub(line.len() + text.len() + 2 + MARKER_ROOM);
        truncated |= put_members(line, rest, members, avail);
        line.extend_from_slice(text);
        if truncated {
            line.extend_from_slice(b",\"");
            line.extend_from_slice(line::TRUNCATED_KEY.as_bytes());
            line.extend_from_slice(b"\":true");
        }
        line.extend_from_slice(b"}\n");
        truncated
    }
}

/// `"level":…,"event":…,"target":…`: the part of a line that is the same for every
/// event of one callsite and event name ([`LineFormat::fixed_head`] keeps it rendered).
fn write_fixed(line: &mut Vec<u8>, level: &Level, event: &str, target: &str) {
    line.extend_from_slice(b"\"level\":\"");
    line.extend_from_slice(level_str(level).as_bytes());
    line.extend_from_slice(b"\",\"event\":");
    json::write_str(line, event, 256);
    line.extend_from_slice(b",\"target\":");
    json::write_str(line, target, 256);
}
