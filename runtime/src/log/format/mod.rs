//! The line formats of a sink, one file each, behind [`LineFormat`]: [`json`] (one JSON object
//! per line) and [`console`] (a human line whose fields are logfmt `key=value` pairs).
//!
//! A format decides how a key, a text value, a copied `fields` value and the message are
//! written, and how the whole line is assembled around the members the visitor collected.
//! Dispatch is static: the layer picks the format once per sink and everything below is
//! monomorphised, so no field pays for an indirect call.

pub(super) mod console;
pub(super) mod json;

use super::line::{Copier, Member, Style};
use tracing::Level;

/// One line format.
pub(super) trait LineFormat {
    /// How a member's key is written (`,"key":` or ` key=`).
    const KEY_STYLE: Style;
    /// Whether the message is a quoted string (so a cut keeps room for the closing quote).
    const MESSAGE_QUOTED: bool;

    /// Appends the body of a key (already bounded), escaped.
    fn escape_key(out: &mut Vec<u8>, name: &str);

    /// Appends the text value `s`, bounded to `max` input bytes with the truncation marker.
    fn text(out: &mut Vec<u8>, s: &str, max: usize);

    /// Appends a short, non-empty word of lowercase ASCII letters and `_` (within any value bound) as
    /// [`LineFormat::text`] writes it, without its escaping pass.
    fn word(out: &mut Vec<u8>, w: &str);

    /// Appends the message `s`, bounded to `max` input bytes with the truncation marker.
    fn message(out: &mut Vec<u8>, s: &str, max: usize);

    /// Appends one character (as a `&str`) of a message cut to the line bound, escaped.
    fn escape_message(out: &mut Vec<u8>, one: &str);

    /// Copies the value of one top-level member of a completion event's `fields` text.
    fn copied_value(
        c: &mut Copier<'_>,
        out: &mut Vec<u8>,
        members: &mut Vec<Member>,
        tmp: &mut String,
    ) -> Option<()>;

    /// The fixed part of a typed completion's line (its level, event and target) from
    /// its callsite's slot, rendered there the first time; `None` for a format that writes it
    /// each time.
    fn fixed_head(
        _slot: &'static crate::completion::HeadSlot,
        _level: &Level,
        _event: &str,
        _target: &str,
    ) -> Option<&'static [u8]> {
        None
    }

    /// Assembles the line into `line` (emptied by the caller): the canonical part of `head`, the
    /// message, the collected members of `rest` within the line bound, the truncation marker when
    /// anything was cut, and the final newline. `text` is a scratch buffer. Returns true when
    /// the line was cut.
    fn write_line(
        head: &Head<'_>,
        line: &mut Vec<u8>,
        text: &mut Vec<u8>,
        rest: &[u8],
        members: &[Member],
    ) -> bool;
}

/// What a line says besides the event's own fields.
pub(super) struct Head<'a> {
    /// The line's stamp, nanoseconds since the epoch.
    pub(super) now: u64,
    pub(super) level: &'a Level,
    pub(super) event: &'a str,
    pub(super) target: &'a str,
    pub(super) message: Option<&'a str>,
    /// The bound ids, in line order: `correlation_id`, `tenant_id`, `user_id`, `connection_id`
    /// ([`ID_KEYS`]), read once per event.
    pub(super) ids: [Option<&'a str>; 4],
    /// Bound fields, and for each whether a canonical key took its name (written `<key>_1`).
    pub(super) bound: &'a [(std::sync::Arc<str>, std::sync::Arc<str>)],
    pub(super) bound_renamed: &'a [bool],
    /// `trace_id` and `span_id` of the current span, when traced.
    pub(super) trace: Option<&'a crate::trace::TraceIds>,
    /// Whether the sink colours its output (console only).
    pub(super) color: bool,
    /// Level, event and target as the format writes them, pre-rendered for a typed completion
    /// ([`LineFormat::fixed_head`]); `None`: written from the fields above.
    pub(super) fixed: Option<&'a [u8]>,
    /// A typed completion's `duration_ms` and `outcome` when the layer writes them without
    /// the member list (its direct route, nothing else to write; its own-fields route, no
    /// member that can take the keys): written by [`write_done`] before the members.
    pub(super) done: Option<(f64, &'a str)>,
    pub(super) max_value: usize,
    pub(super) max_line: usize,
}

/// Keys of [`Head::ids`].
pub(super) const ID_KEYS: [&str; 4] = ["correlation_id", "tenant_id", "user_id", "connection_id"];

/// What a JSON line writes before each id of [`ID_KEYS`]: separator, key and the value's
/// opening quote, in one copy (`tests::the_id_openings_are_the_keys`).
pub(super) const ID_OPEN: [&str; 4] = [
    ",\"correlation_id\":\"",
    ",\"tenant_id\":\"",
    ",\"user_id\":\"",
    ",\"connection_id\":\"",
];

/// `,"line_truncated":true` / ` line_truncated=true`: room kept for the line marker.
pub(super) const MARKER_ROOM: usize = 24;

pub(super) const fn level_str(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Writes a typed completion's `duration_ms` and `outcome` straight into the line ([`Head::done`]):
/// the bytes `Collected::typed` writes for them as members when nothing can take their keys.
#[inline]
pub(super) fn write_done<F: LineFormat>(
    line: &mut Vec<u8>,
    (ms, outcome): (f64, &str),
    max: usize,
) {
    super::line::free_key::<F>(line, crate::completion::DURATION_MS);
    super::json::write_ms(line, ms);
    super::line::free_key::<F>(line, crate::completion::OUTCOME);
    write_outcome::<F>(line, outcome, max);
}

/// Writes a completion's `outcome` value, as the direct route and the member list both do. An
/// outcome is one of `Outcome::as_str`'s words (lowercase ASCII and `_`, shorter than any value
/// bound): written as the format writes such a word, with no escaping pass; anything else as
/// text.
#[inline]
pub(super) fn write_outcome<F: LineFormat>(out: &mut Vec<u8>, outcome: &str, max: usize) {
    if (1..=max.min(16)).contains(&outcome.len())
        && outcome.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        F::word(out, outcome);
    } else {
        F::text(out, outcome, max);
    }
}

/// Appends the members of `rest` to `line` within `avail` bytes: a member that does not fit
/// keeps its key with the value replaced by `"…[omitted N bytes]"` (a JSON string and a quoted
/// logfmt value alike), or is left out when even that does not fit. Returns true when anything
/// was cut.
pub(super) fn put_members(
    line: &mut Vec<u8>,
    rest: &[u8],
    members: &[Member],
    mut avail: usize,
) -> bool {
    let mut cut = false;
    for (i, m) in members.iter().enumerate() {
        let end = members.get(i + 1).map_or(rest.len(), |n| n.start);
        let seg = &rest[m.start..end];
        if seg.len() <= avail {
            line.extend_from_slice(seg);
            avail -= seg.len();
            continue;
        }
        cut = true;
        let key = &rest[m.start..m.value];
        let mut buf = [0u8; 64];
        let len = {
            let mut w = std::io::Cursor::new(&mut buf[..]);
            let _ = std::io::Write::write_fmt(
                &mut w,
                format_args!("\"…[omitted {} bytes]\"", end - m.value),
            );
            w.position() as usize
        };
        let ph = &buf[..len];
        if key.len() + ph.len() <= avail {
            line.extend_from_slice(key);
            line.extend_from_slice(ph);
            avail -= key.len() + ph.len();
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_openings_are_the_keys() {
        for (open, key) in ID_OPEN.iter().zip(ID_KEYS) {
            assert_eq!(*open, format!(",\"{key}\":\""));
        }
    }
}
