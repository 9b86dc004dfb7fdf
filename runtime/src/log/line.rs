//! The parts of a line after its canonical fields: keys written at most once, the trusted
//! `fields` JSON of completion events copied member by member, and text cut to an output size.
//!
//! **Keys.** No line carries a key twice. The canonical keys the line already has (`timestamp`,
//! `level`, `event`, `target`, `correlation_id`, `tenant_id`, `user_id` when bound, `trace_id`,
//! `span_id` when traced, and the marker [`TRUNCATED_KEY`]) come first; a field of the event
//! whose key is already taken (by a canonical key or an earlier field) is renamed to
//! `<key>_1`, `<key>_2`, ... (the first free one up to `_8`), or dropped when all are taken.
//! Renames are counted in `observa_log_fields_renamed_total`, drops in
//! `observa_log_fields_dropped_total`. The same holds inside nested objects of `fields`.
//!
//! **Recorded fields.** The `fields` text of a completion event is JSON written by observa, but
//! an event is recognised by its name, which any code can use: the text is therefore parsed
//! (strictly: invalid JSON is dropped and counted as `observa_internal_errors_total{kind="log"}`),
//! every string is scrubbed of URL credentials, re-neutralised and bounded to the configured
//! value size, and nesting is bounded. So the channel cannot break a line or smuggle a raw character.

use super::format::LineFormat;
use super::json;
use super::neutralise::escape_json;
use std::sync::atomic::{AtomicU64, Ordering};

/// Key of the line marker written when fields were cut or left out to keep the line within
/// `OBSERVA_LOG_MAX_LINE_BYTES`; its value is `true`.
pub const TRUNCATED_KEY: &str = "line_truncated";

/// The keys a line writes before the event's fields, in the order it writes them: the
/// canonical keys (`correlation_id` .. `span_id` when the line has them; [`TRUNCATED_KEY`] is
/// reserved on every line), then a typed completion head's `duration_ms` and `outcome` (a
/// failed completion's `error` and `error_type` follow them). No field of an event takes one
/// of them (see the module docs); the layer reserves the first [`CANONICAL`] of them on every
/// line that has them.
pub(crate) const LINE_KEYS: [&str; 13] = [
    "timestamp",
    "level",
    "event",
    "target",
    "correlation_id",
    "tenant_id",
    "user_id",
    "connection_id",
    "trace_id",
    "span_id",
    TRUNCATED_KEY,
    crate::completion::DURATION_MS,
    crate::completion::OUTCOME,
];

/// How many of [`LINE_KEYS`] are canonical keys (the rest are a typed completion's head).
pub(crate) const CANONICAL: usize = 11;

/// Highest suffix tried when a key is taken.
const MAX_RENAMES: u8 = 8;

/// Deepest nesting accepted in the `fields` text.
const MAX_NESTING: usize = 16;

pub(super) static RENAMED: AtomicU64 = AtomicU64::new(0);
pub(super) static DROPPED: AtomicU64 = AtomicU64::new(0);
pub(super) static TRUNCATED: AtomicU64 = AtomicU64::new(0);

/// One field of a line in the members buffer: `start` (its separator), the key body
/// `key.0..key.1` (escaped) and where the value starts.
#[derive(Clone, Copy)]
pub(super) struct Member {
    pub(super) start: usize,
    pub(super) key: (usize, usize),
    pub(super) value: usize,
}

/// How a line format writes a member's key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// `,"key":` (JSON lines and nested objects).
    Json,
    /// ` key=` (console lines).
    Console,
}

/// Writes separator and key (body written by `body`, already escaped), renaming it when taken.
/// `None` when every candidate name was taken: nothing is written.
fn put_key(
    out: &mut Vec<u8>,
    style: Style,
    sep: Option<u8>,
    reserved: &[&str],
    taken: &[Member],
    body: impl FnOnce(&mut Vec<u8>),
) -> Option<Member> {
    let start = out.len();
    if let Some(s) = sep {
        out.push(s);
    }
    if style == Style::Json {
        out.push(b'"');
    }
    let kb = out.len();
    body(out);
    let ke = out.len();
    let collides = |out: &Vec<u8>, end: usize| {
        let k = &out[kb..end];
        reserved.iter().any(|r| r.as_bytes() == k)
            || taken.iter().any(|m| &out[m.key.0..m.key.1] == k)
    };
    let mut end = ke;
    if collides(out, ke) {
        let mut renamed = false;
        for n in 1..=MAX_RENAMES {
            out.truncate(ke);
            out.push(b'_');
            out.push(b'0' + n);
            if !collides(out, out.len()) {
                renamed = true;
                break;
            }
        }
        if !renamed {
            out.truncate(start);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        RENAMED.fetch_add(1, Ordering::Relaxed);
        end = out.len();
    }
    match style {
        Style::Json => out.extend_from_slice(b"\":"),
        Style::Console => out.push(b'='),
    }
    Some(Member {
        start,
        key: (kb, end),
        value: out.len(),
    })
}

/// Writes the key `name` of a line member (bounded to 128 bytes, escaped for the format `F`).
pub(super) fn line_key<F: LineFormat>(
    out: &mut Vec<u8>,
    reserved: &[&str],
    taken: &[Member],
    name: &str,
) -> Option<Member> {
    let (name, cut) = bounded(name, 128);
    let body = |out: &mut Vec<u8>| {
        F::escape_key(out, name);
        if cut {
            out.extend_from_slice(json::TRUNCATION_MARKER.as_bytes());
        }
    };
    let sep = match F::KEY_STYLE {
        Style::Json => b',',
        Style::Console => b' ',
    };
    put_key(out, F::KEY_STYLE, Some(sep), reserved, taken, body)
}

/// [`line_key`] of a recorded field's name that needs no escape and no bound (printable ASCII
/// without `"` or `\`, at most 128 bytes: [`crate::completion::FieldKeys`]): a JSON line's key
/// is written whole when nothing takes it, else as [`line_key`] writes it (renamed).
#[inline]
fn own_key<F: LineFormat>(
    out: &mut Vec<u8>,
    reserved: &[&str],
    taken: &[Member],
    name: &'static str,
) -> Option<Member> {
    if F::KEY_STYLE == Style::Json
        && !reserved.contains(&name)
        && !taken
            .iter()
            .any(|m| out.get(m.key.0..m.key.1) == Some(name.as_bytes()))
    {
        return Some(free_member::<F>(out, name));
    }
    line_key::<F>(out, reserved, taken, name)
}

/// [`line_key`] of one of observa's own keys (`duration_ms`, `outcome`): lowercase ASCII and
/// `_`, short, so written as it is (neither format escapes or bounds it); still renamed when
/// taken.
pub(super) fn plain_key<F: LineFormat>(
    out: &mut Vec<u8>,
    reserved: &[&str],
    taken: &[Member],
    name: &'static str,
) -> Option<Member> {
    debug_assert!(name.len() <= 128 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    let sep = match F::KEY_STYLE {
        Style::Json => b',',
        Style::Console => b' ',
    };
    if reserved.is_empty() && taken.is_empty() {
        // Nothing to collide with: separator, key and delimiter written straight.
        return Some(free_member::<F>(out, name));
    }
    put_key(out, F::KEY_STYLE, Some(sep), reserved, taken, |out| {
        out.extend_from_slice(name.as_bytes());
    })
}

/// [`free_key`] as the member it starts (its value to follow).
#[inline]
fn free_member<F: LineFormat>(out: &mut Vec<u8>, name: &'static str) -> Member {
    let start = out.len();
    let key = free_key::<F>(out, name);
    Member {
        start,
        key,
        value: out.len(),
    }
}

/// Writes separator, key and delimiter of one of observa's own keys that nothing can take
/// ([`plain_key`] when there is nothing to collide with, and the completion members the
/// formats write straight, [`super::format::write_done`]); returns where the key body is.
#[inline]
pub(super) fn free_key<F: LineFormat>(out: &mut Vec<u8>, name: &'static str) -> (usize, usize) {
    let (open, close): (&[u8], &[u8]) = match F::KEY_STYLE {
        Style::Json => (b",\"", b"\":"),
        Style::Console => (b" ", b"="),
    };
    out.extend_from_slice(open);
    let kb = out.len();
    out.extend_from_slice(name.as_bytes());
    let ke = out.len();
    out.extend_from_slice(close);
    (kb, ke)
}

use crate::encode::text::cut as bounded;

/// Copies the `fields` text `src` of a call whose site rendered it with `keys`
/// ([`crate::completion::FieldKeys`]) when it is exactly those members: each key byte for byte
/// the rendered one, nothing after the last value but the closing brace. The keys are written
/// as they are, with no collision check: the caller made sure no key of the line can take one
/// ([`crate::completion::FieldKeys::free`], which also holds the names distinct). Each value is read
/// strictly ([`LineFormat::copied_value`]), as [`copy_fields`] reads it. Any other text leaves
/// `out` and `members` as they were and returns false: [`copy_fields`] reads it instead.
pub(super) fn copy_own_fields<F: LineFormat>(
    out: &mut Vec<u8>,
    members: &mut Vec<Member>,
    src: &str,
    max: usize,
    tmp: &mut String,
    keys: &crate::completion::FieldKeys,
) -> bool {
    let (start, base) = (out.len(), members.len());
    let mut c = Copier {
        b: src.as_bytes(),
        src,
        i: 0,
        max,
    };
    let mut ok = true;
    let mut k = 0;
    while let Some((rendered, name)) = keys.plain(k) {
        k += 1;
        if !c.b.get(c.i..).is_some_and(|b| b.starts_with(rendered)) {
            ok = false;
            break;
        }
        c.i += rendered.len();
        members.push(free_member::<F>(out, name));
        if F::copied_value(&mut c, out, members, tmp).is_none() {
            ok = false;
            break;
        }
    }
    if !(ok && k > 0 && c.b.get(c.i..) == Some(&b"}"[..])) {
        out.truncate(start);
        members.truncate(base);
        return false;
    }
    true
}

/// Copies the members of the JSON object text `src` (a completion event's `fields`) into `out`
/// as line members, each value written by [`LineFormat::copied_value`]. Invalid text leaves
/// `out` and `members` as they were and returns false.
///
/// `own`: the keys the call site rendered the text's first members with
/// ([`crate::completion::FieldKeys`]). A key that is, byte for byte, the rendered one is
/// written from it without decoding ([`own_key`]: the same key, renamed when taken, as
/// [`line_key`] would write it); every other key and every value is read strictly.
pub(super) fn copy_fields<F: LineFormat>(
    out: &mut Vec<u8>,
    reserved: &[&str],
    members: &mut Vec<Member>,
    src: &str,
    max: usize,
    tmp: &mut String,
    own: Option<&crate::completion::FieldKeys>,
) -> bool {
    let (start, base) = (out.len(), members.len());
    let ok = Copier {
        b: src.as_bytes(),
        src,
        i: 0,
        max,
    }
    .top::<F>(out, reserved, members, tmp, own)
    .is_some();
    if !ok {
        out.truncate(start);
        members.truncate(base);
    }
    ok
}

/// A strict reader of the `fields` JSON text that writes what it reads as JSON (bounded,
/// scrubbed, re-neutralised).
pub(super) struct Copier<'a> {
    b: &'a [u8],
    src: &'a str,
    i: usize,
    /// Bound of every string value, in input bytes.
    pub(super) max: usize,
}

impl<'a> Copier<'a> {
    fn ws(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
        {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    pub(super) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn top<F: LineFormat>(
        &mut self,
        out: &mut Vec<u8>,
        reserved: &[&str],
        members: &mut Vec<Member>,
        tmp: &mut String,
        own: Option<&crate::completion::FieldKeys>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            for k in 0.. {
                // The site's own `k`th key as it rendered it (past its separator, which the
                // loop has read): taken as it is.
                let rendered = own.and_then(|o| o.plain(k)).filter(|(r, _)| {
                    self.b
                        .get(self.i..)
                        .is_some_and(|b| b.starts_with(r.get(1..).unwrap_or_default()))
                });
                let key = match rendered {
                    Some((r, name)) => {
                        self.i += r.len() - 1;
                        own_key::<F>(out, reserved, members, name)
                    }
                    None => {
                        let key = self.text(tmp)?;
                        self.eat(b':')?;
                        line_key::<F>(out, reserved, members, key)
                    }
                };
                match key {
                    Some(m) => {
                        members.push(m);
                        F::copied_value(self, out, members, tmp)?;
                    }
                    None => {
                        let at = out.len();
                        self.value(out, members, tmp, 0)?;
                        out.truncate(at);
                    }
                }
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// Copies one JSON value (at nesting `depth`) to `out` as JSON.
    pub(super) fn value(
        &mut self,
        out: &mut Vec<u8>,
        members: &mut Vec<Member>,
        tmp: &mut String,
        depth: usize,
    ) -> Option<()> {
        if depth > MAX_NESTING {
            return None;
        }
        match self.peek()? {
            b'"' => {
                let v = self.text(tmp)?;
                json::write_str(out, &crate::scrub::scrub(v), self.max);
            }
            b'{' => {
                self.i += 1;
                out.push(b'{');
                let base = members.len();
                if self.peek()? == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        let key = self.text(tmp)?;
                        self.eat(b':')?;
                        let sep = (members.len() > base).then_some(b',');
                        let (k, cut) = bounded(key, 128);
                        let put = put_key(out, Style::Json, sep, &[], &members[base..], |o| {
                            escape_json(o, k);
                            if cut {
                                o.extend_from_slice(json::TRUNCATION_MARKER.as_bytes());
                            }
                        });
                        match put {
                            Some(m) => {
                                members.push(m);
                                self.value(out, members, tmp, depth + 1)?;
                            }
                            None => {
                                let at = out.len();
                                self.value(out, members, tmp, depth + 1)?;
                                out.truncate(at);
                            }
                        }
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                members.truncate(base);
                out.push(b'}');
            }
            b'[' => {
                self.i += 1;
                out.push(b'[');
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        self.value(out, members, tmp, depth + 1)?;
                        match self.peek()? {
                            b',' => {
                                self.i += 1;
                                out.push(b',');
                            }
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                out.push(b']');
            }
            b't' => self.literal(out, b"true")?,
            b'f' => self.literal(out, b"false")?,
            b'n' => self.literal(out, b"null")?,
            _ => self.number(out)?,
        }
        Some(())
    }

    fn literal(&mut self, out: &mut Vec<u8>, lit: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            out.extend_from_slice(lit);
            Some(())
        } else {
            None
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - s
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    pub(super) fn number(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let s = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        out.extend_from_slice(&self.b[s..self.i]);
        Some(())
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.src.get(at..at + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    }

    /// The JSON string at the cursor when it needs no decoding (printable ASCII without `"`
    /// or `\`: its body is its text), borrowed as it is, the cursor past its closing quote;
    /// `None`, the cursor at the string (past any whitespace), otherwise ([`Copier::string`]
    /// decodes it). What the copier
    /// does with the text is the same either way: only the copy into `tmp` is skipped (most
    /// keys and values of recorded fields are such strings).
    fn plain_string(&mut self) -> Option<&'a str> {
        self.ws();
        let body = self.b.get(self.i..)?.strip_prefix(b"\"")?;
        let n = crate::encode::neutralise::plain_run(body);
        if body.get(n) != Some(&b'"') {
            return None;
        }
        let s = self.src.get(self.i + 1..self.i + 1 + n)?;
        self.i += n + 2;
        Some(s)
    }

    /// The text of the JSON string at the cursor: borrowed when it needs no decoding
    /// ([`Copier::plain_string`]), else decoded into `tmp` ([`Copier::string`]).
    pub(super) fn text<'t>(&mut self, tmp: &'t mut String) -> Option<&'t str>
    where
        'a: 't,
    {
        match self.plain_string() {
            Some(s) => Some(s),
            None => {
                self.string(tmp)?;
                Some(tmp.as_str())
            }
        }
    }

    /// A JSON string, decoded into `tmp`.
    fn string(&mut self, tmp: &mut String) -> Option<()> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        tmp.clear();
        loop {
            let s = self.i;
            while self
                .b
                .get(self.i)
                .is_some_and(|&c| c != b'"' && c != b'\\' && c >= 0x20)
            {
                self.i += 1;
            }
            tmp.push_str(self.src.get(s..self.i)?);
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let u = self.hex4(self.i)?;
                            self.i += 4;
                            if (0xd800..0xdc00).contains(&u)
                                && self.b.get(self.i) == Some(&b'\\')
                                && self.b.get(self.i + 1) == Some(&b'u')
                                && let Some(l) = self.hex4(self.i + 2)
                                && (0xdc00..0xe000).contains(&l)
                            {
                                self.i += 6;
                                char::from_u32(0x1_0000 + ((u - 0xd800) << 10) + (l - 0xdc00))
                                    .unwrap_or('\u{fffd}')
                            } else {
                                char::from_u32(u).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => return None,
                    };
                    tmp.push(c);
                }
                // A raw control character: not JSON.
                _ => return None,
            }
        }
    }
}

/// Writes the message `s` as the format `F` shows it ([`LineFormat::message`]), bounded to
/// `max` input bytes and to `cap` output bytes (marker included). Returns true when the output
/// cap cut it.
pub(super) fn write_text_capped<F: LineFormat>(
    out: &mut Vec<u8>,
    s: &str,
    max: usize,
    cap: usize,
) -> bool {
    let start = out.len();
    F::message(out, s, max);
    if out.len() - start <= cap {
        return false;
    }
    out.truncate(start);
    let marker = json::TRUNCATION_MARKER.as_bytes();
    let closing = usize::from(F::MESSAGE_QUOTED);
    if F::MESSAGE_QUOTED {
        out.push(b'"');
    }
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let at = out.len();
        let one: &str = c.encode_utf8(&mut buf);
        F::escape_message(out, one);
        if out.len() - start + marker.len() + closing > cap {
            out.truncate(at);
            break;
        }
    }
    out.extend_from_slice(marker);
    if F::MESSAGE_QUOTED {
        out.push(b'"');
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::json::Json;

    fn copy(src: &str, reserved: &[&str]) -> Option<String> {
        copy_own::<Json>(src, reserved, None).map(|(line, _)| line)
    }

    /// A member's separator, key and value offsets.
    type Offsets = (usize, (usize, usize), usize);

    /// [`copy_fields`] after a member `a`, with the rendered keys `own`; the line (closed) and
    /// the members' offsets, `None` when refused.
    fn copy_own<F: LineFormat>(
        src: &str,
        reserved: &[&str],
        own: Option<&crate::completion::FieldKeys>,
    ) -> Option<(String, Vec<Offsets>)> {
        let mut out = b"{\"a\":0".to_vec();
        let mut members = vec![Member {
            start: 1,
            key: (2, 3),
            value: 5,
        }];
        let mut tmp = String::new();
        copy_fields::<F>(&mut out, reserved, &mut members, src, 8, &mut tmp, own).then(|| {
            out.push(b'}');
            let offsets = members.iter().map(|m| (m.start, m.key, m.value)).collect();
            (String::from_utf8(out).unwrap(), offsets)
        })
    }

    /// The rendered keys change how a key is read, never what is written: the same line, the
    /// same members and the same renames as the strict reader gives, for the site's own text,
    /// for text after which other members were appended (`ret`, `slow`), for text whose keys
    /// differ from the site's, for invalid text, in both formats. (The sites with names to
    /// escape or past the key bound have no plain keys: they check that such keys are read
    /// strictly.)
    #[test]
    fn the_rendered_keys_copy_what_the_strict_reader_copies() {
        use crate::completion::FieldKeys;
        use crate::log::format::console::Console;
        static PLAIN: &[&str] = &["order_id", "tenant_id", "a", "line_truncated", "x y=z"];
        static ODD: &[&str] = &["order_id", "caf\u{e9}", "q\"uote"];
        let long: &'static str = Box::leak("k".repeat(KEY_LONG).into_boxed_str());
        let long_names: &'static [&'static str] = Box::leak(vec!["a", long].into_boxed_slice());
        let values = [
            "7",
            "-2.5e3",
            "true",
            "null",
            "\"plain\"",
            "\"https://u:secret@h/x\"",
            "\"\\u200bx\\\"y\"",
            "\"yyyyyyyyyyyyyyyy\"",
            "{\"k\":1,\"k\":2}",
            "[1,\"a=b\"]",
        ];
        for names in [PLAIN, ODD, long_names] {
            let keys = FieldKeys::new(names);
            let mut texts = Vec::new();
            for (i, v) in values.iter().enumerate() {
                let t = keys.text_of(|k| values[(i + k) % values.len()]);
                texts.push(t.clone());
                // Members appended after the site's (`ret`), a different second key, a cut text.
                texts.push(format!("{},\"return\":{v}}}", &t[..t.len() - 1]));
                // (The second rendered key, altered inside its quotes.)
                let second = keys.rendered().get(1).map_or(&b"{\"a\":"[..], |k| &k[..]);
                let second = std::str::from_utf8(second).unwrap();
                texts.push(t.replacen(second, &second.replacen('"', "\"x", 1), 1));
                let half = (0..=t.len() / 2).rev().find(|&h| t.is_char_boundary(h));
                texts.push(t[..half.unwrap_or(0)].to_string());
            }
            for reserved in [&[][..], &["tenant_id", "line_truncated", "a"][..]] {
                for t in &texts {
                    assert_eq!(
                        copy_own::<Json>(t, reserved, Some(&keys)),
                        copy_own::<Json>(t, reserved, None),
                        "{t}"
                    );
                    assert_eq!(
                        copy_own::<Console>(t, reserved, Some(&keys)),
                        copy_own::<Console>(t, reserved, None),
                        "{t}"
                    );
                }
            }
        }
    }

    /// A key longer than the key bound: rendered cut, so never taken as it is.
    const KEY_LONG: usize = crate::completion::KEY_MAX + 5;

    #[test]
    fn members_are_copied_renamed_and_bounded() {
        let s = copy(
            r#"{"b":[1,-2.5e3,true,null],"a":"\u200bx\ud83d\ude00yyyyyyyyyy","level":{"k":1,"k":2}}"#,
            &["level"],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["b"], serde_json::json!([1, -2500.0, true, null]));
        assert_eq!(
            v["a_1"],
            format!("\u{200b}x\u{1f600}{}", json::TRUNCATION_MARKER)
        );
        assert!(s.contains("\\u200b"), "{s}");
        assert_eq!(v["level_1"], serde_json::json!({"k": 1, "k_1": 2}));
    }

    #[test]
    fn invalid_text_is_refused() {
        for bad in [
            "{\"a\":1}}",
            "{\"a\":1,",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":\"x\ny\"}",
            "{\"a\":tru}",
            "{\"a\" 1}",
            "[1]",
            "{\"a\":\"\\q\"}",
        ] {
            assert!(copy(bad, &[]).is_none(), "{bad}");
        }
        assert_eq!(copy("{}", &[]).unwrap(), "{\"a\":0}");
    }

    #[test]
    fn capped_text_stays_a_string() {
        let mut out = Vec::new();
        let cut = write_text_capped::<Json>(&mut out, &"\u{1}".repeat(100), 1000, 40);
        assert!(cut);
        assert!(out.len() <= 40, "{}", out.len());
        let _: String = serde_json::from_slice(&out).unwrap();
    }
}
