//! The field visitor: what one event's fields become in a line. Each field is keyed once
//! ([`line::line_key`]), masked when code that bypasses observa records a sensitive or
//! non-allowlisted key, scrubbed of URL credentials when it is free text, bounded, and written
//! by the sink's [`LineFormat`]; `event` and `message` are kept aside for the line's head.

use super::format::LineFormat;
use super::json;
use super::line;
use crate::record::REDACTED;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;
use tracing::field::{Field, Visit};

/// A `fmt::Write` into a `String` that keeps at most `cap` bytes (on a char boundary) and
/// notes that it cut.
struct Capped<'a> {
    out: &'a mut String,
    cap: usize,
    cut: bool,
}

impl fmt::Write for Capped<'_> {
    /// Never fails, even once full: a `Display` impl that unwraps its writes must not panic in
    /// the application. The rest of a huge value is walked but not kept.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        let room = self.cap.saturating_sub(self.out.len());
        if s.len() <= room {
            self.out.push_str(s);
        } else {
            self.out.push_str(crate::encode::text::prefix(s, room));
            self.cut = true;
        }
        Ok(())
    }
}

/// Extra bytes formatted past the value bound so that a URL cut by the bound is still seen
/// whole by the scrubber.
const SCRUB_LOOKAHEAD: usize = 1024;

/// `dst` = `v` (formatted), scrubbed of URL credentials, bounded to `max` bytes with the
/// truncation marker.
fn set_scrubbed(dst: &mut String, v: fmt::Arguments<'_>, max: usize) {
    dst.clear();
    let mut w = Capped {
        out: dst,
        cap: max.saturating_add(SCRUB_LOOKAHEAD),
        cut: false,
    };
    // A Display impl that fails only loses its own text, never the line.
    let _ = w.write_fmt(v);
    let cut = w.cut;
    // The scrubber changes only text with a URL (`://`) or a `key=value` / `key: value` pair:
    // one pass over the bytes spares it the rest.
    if dst.bytes().any(|b| b == b':' || b == b'=')
        && let std::borrow::Cow::Owned(s) = crate::scrub::scrub(dst)
    {
        *dst = s;
    }
    if dst.len() > max || cut {
        let end = crate::encode::text::prefix(dst, max).len();
        dst.truncate(end);
        dst.push_str(json::TRUNCATION_MARKER);
    }
}

/// What the visitor collected from one event, its fields written for the format `F`.
pub(super) struct Collected<'a, F> {
    pub(super) format: PhantomData<F>,
    pub(super) rest: &'a mut Vec<u8>,
    pub(super) members: &'a mut Vec<line::Member>,
    pub(super) reserved: &'a [&'a str],
    pub(super) event: &'a mut String,
    pub(super) has_event: bool,
    pub(super) message: &'a mut String,
    pub(super) has_message: bool,
    pub(super) tmp: &'a mut String,
    pub(super) max: usize,
    pub(super) completion: bool,
    pub(super) production: bool,
    /// The mask decisions of this event's callsite ([`MaskCache`]).
    pub(super) masks: Masks,
    /// The completion event's `event`, `duration_ms` and `outcome` came typed
    /// ([`crate::completion::Typed`], written by [`Collected::typed`]): the visitor skips them.
    pub(super) typed: bool,
    /// The keys the completion event's `fields` text was rendered with, when typed
    /// ([`crate::completion::Typed::keys`]).
    pub(super) keys: Option<&'static crate::completion::FieldKeys>,
}

impl<F: LineFormat> Collected<'_, F> {
    /// Writes the key of a new member (renamed when taken); false when it was dropped, and the
    /// value must then be skipped.
    fn key(&mut self, name: &str) -> bool {
        match line::line_key::<F>(self.rest, self.reserved, self.members, name) {
            Some(m) => {
                self.members.push(m);
                true
            }
            None => false,
        }
    }

    /// Writes the `duration_ms` and `outcome` members of a typed completion head, as the
    /// visitor writes them from the event's fields (same keys, same order, same values).
    /// `free`: no reserved key is `duration_ms` or `outcome` (the caller checked the bound
    /// fields), so, written first, they cannot collide.
    pub(super) fn typed(&mut self, done: Option<(f64, &str)>, free: bool) {
        self.typed = true;
        if let Some((ms, outcome)) = done {
            let free = free && self.members.is_empty();
            if self.plain_key(crate::completion::DURATION_MS, free) {
                json::write_ms(self.rest, ms);
            }
            // A completion value is never masked; an outcome never holds a URL.
            if self.plain_key(crate::completion::OUTCOME, free) {
                super::format::write_outcome::<F>(self.rest, outcome, self.max);
            }
        }
    }

    /// [`Collected::key`] of one of observa's own keys ([`line::plain_key`]); `free` when it
    /// cannot be taken (no collision check).
    fn plain_key(&mut self, name: &'static str, free: bool) -> bool {
        let (reserved, taken) = if free {
            (&[][..], &[][..])
        } else {
            (self.reserved, &self.members[..])
        };
        match line::plain_key::<F>(self.rest, reserved, taken, name) {
            Some(m) => {
                self.members.push(m);
                true
            }
            None => false,
        }
    }

    /// A field of the typed head, already written ([`Collected::typed`]).
    #[inline]
    fn skipped(&self, field: &Field) -> bool {
        self.typed && field.index() <= crate::completion::at::OUTCOME
    }

    fn text(&mut self, s: &str) {
        F::text(self.rest, s, self.max);
    }

    /// Writes the key of `field`; when its value must be masked, writes the mask too and returns
    /// false (the caller writes the value only on true).
    fn open(&mut self, field: &Field) -> bool {
        if !self.key(field.name()) {
            return false;
        }
        match self.masked(field) {
            Some(m) => {
                self.text(m);
                false
            }
            None => true,
        }
    }

    /// Writes a free-text value: formatted, scrubbed of URL credentials, bounded, neutralised.
    fn free_text(&mut self, v: fmt::Arguments<'_>) {
        let mut tmp = std::mem::take(self.tmp);
        set_scrubbed(&mut tmp, v, self.max);
        // Already bounded (with its marker): written whole.
        F::text(self.rest, &tmp, usize::MAX);
        *self.tmp = tmp;
    }

    /// The text that replaces a foreign event's value under this key, if any.
    #[inline]
    fn masked(&self, field: &Field) -> Option<&'static str> {
        if self.completion {
            return None;
        }
        self.masks.get(field, self.production)
    }
}

/// [`foreign_key_mask`] of every field of one callsite, by field index (the first 64; a field
/// past them is decided on the spot). The decision depends on the key and the production flag
/// only, so it is taken once per callsite instead of once per field of every event: the key
/// rules (`crate::sensitive`) were the largest single cost of a line of other code's events.
#[derive(Clone, Copy)]
pub(super) struct Masks {
    mask: u64,
    filter: u64,
    /// The callsite these bits were taken from (address of its `dyn Callsite`, 0 for
    /// [`Masks::NONE`]): a field of another callsite's `FieldSet` (third-party code may
    /// dispatch an event with such values) is decided by its own key, never by index.
    callsite: usize,
}

/// The address of a callsite, for identity only.
#[inline]
fn callsite_addr(id: &tracing_core::callsite::Identifier) -> usize {
    std::ptr::from_ref(id.0).cast::<()>() as usize
}

impl Masks {
    /// No field masked (completion events: observa's own fields).
    pub(super) const NONE: Masks = Masks {
        mask: 0,
        filter: 0,
        callsite: 0,
    };

    fn of(meta: &tracing::Metadata<'_>, production: bool) -> Masks {
        let mut m = Masks::NONE;
        m.callsite = callsite_addr(&meta.callsite());
        for (i, f) in meta.fields().iter().enumerate().take(64) {
            match foreign_key_mask(f.name(), production) {
                Some(REDACTED) => m.mask |= 1 << i,
                Some(_) => m.filter |= 1 << i,
                None => {}
            }
        }
        m
    }

    #[inline]
    fn get(&self, field: &Field, production: bool) -> Option<&'static str> {
        let i = field.index();
        if i >= 64 || callsite_addr(&field.callsite()) != self.callsite {
            return foreign_key_mask(field.name(), production);
        }
        if self.mask >> i & 1 == 1 {
            Some(REDACTED)
        } else if self.filter >> i & 1 == 1 {
            Some(crate::redact::FILTERED)
        } else {
            None
        }
    }
}

/// Slots of a thread's [`MaskCache`].
const MASK_SLOTS: usize = 64;

/// A thread's [`Masks`] of the callsites it logged lately: direct-mapped by the address of the
/// callsite's `'static` metadata (and the production flag), so a hit is one compare.
pub(super) struct MaskCache([(usize, bool, Masks); MASK_SLOTS]);

impl MaskCache {
    pub(super) const fn new() -> MaskCache {
        MaskCache([(0, false, Masks::NONE); MASK_SLOTS])
    }

    /// The masks of `meta`'s fields under `production`.
    #[inline]
    pub(super) fn get(
        &mut self,
        meta: &'static tracing::Metadata<'static>,
        production: bool,
    ) -> Masks {
        let key = std::ptr::from_ref(meta) as usize;
        let slot = (key >> 4).wrapping_mul(0x9e37_79b9) % MASK_SLOTS;
        let (k, p, m) = self.0[slot];
        if k == key && p == production {
            return m;
        }
        let m = Masks::of(meta, production);
        self.0[slot] = (key, production, m);
        m
    }
}

/// `s.contains("://")`, without the setup of a general substring search (most values are
/// short and have no `:` at all).
#[inline]
fn has_url(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(2)).any(|i| b[i] == b':' && b[i + 1] == b'/' && b[i + 2] == b'/')
}

/// `dst` = `v` bounded to `max` bytes (with the truncation marker).
fn set_text(dst: &mut String, v: &str, max: usize) {
    dst.clear();
    crate::encode::text::push_bounded(dst, v, max);
}

/// What replaces a value recorded under `key` by code that bypasses observa: [`REDACTED`] for a
/// sensitive name, `[FILTERED]` for a key outside the production allowlist ([`SAFE_FIELDS`](crate::redact::SAFE_FIELDS); not
/// secret as far as we know, just not approved for production logs), `None` to keep it. The
/// decision is [`crate::redact::key_action`]'s.
pub fn foreign_key_mask(key: &str, production: bool) -> Option<&'static str> {
    use crate::redact::KeyAction;
    match crate::redact::key_action(key, production.then_some(crate::redact::SAFE_FIELDS)) {
        KeyAction::Keep => None,
        KeyAction::Mask => Some(REDACTED),
        KeyAction::Filter => Some(crate::redact::FILTERED),
    }
}

impl<F: LineFormat> Visit for Collected<'_, F> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.skipped(field) {
            return;
        }
        let name = field.name();
        if name == "event" {
            set_text(self.event, value, 256);
            self.has_event = true;
            return;
        }
        if self.completion
            && name == crate::completion::FIELDS
            && crate::completion::trusted_fields(value)
        {
            // JSON object text written by observa (but checked: see `line`).
            if !line::copy_fields::<F>(
                self.rest,
                self.reserved,
                self.members,
                value,
                self.max,
                self.tmp,
                self.keys,
            ) {
                crate::metrics::internal_error("log");
            }
            return;
        }
        // Text without a URL has nothing to scrub: written straight from the borrowed value.
        let url = has_url(value);
        if name == "message" && !self.completion {
            if url {
                set_scrubbed(self.message, format_args!("{value}"), self.max);
            } else {
                set_text(self.message, value, self.max);
            }
            self.has_message = true;
            return;
        }
        if self.open(field) {
            if url {
                self.free_text(format_args!("{value}"));
            } else {
                self.text(value);
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.skipped(field) {
            return;
        }
        let name = field.name();
        if name == "message" && !self.completion {
            set_scrubbed(self.message, format_args!("{value:?}"), self.max);
            self.has_message = true;
            return;
        }
        if name == "event" {
            self.event.clear();
            let mut w = Capped {
                out: self.event,
                cap: 256,
                cut: false,
            };
            let _ = write!(w, "{value:?}");
            self.has_event = true;
            return;
        }
        if self.open(field) {
            self.free_text(format_args!("{value:?}"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.open(field) {
            json::write_i64(self.rest, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.open(field) {
            json::write_u64(self.rest, value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.skipped(field) {
            return;
        }
        if self.completion && field.name() == "duration_ms" {
            if self.key("duration_ms") {
                json::write_ms(self.rest, value);
            }
            return;
        }
        if self.open(field) {
            json::write_f64(self.rest, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.open(field) {
            self.rest
                .extend_from_slice(if value { b"true" } else { b"false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.open(field) {
            self.free_text(format_args!("{}", crate::outcome::ErrorView::Error(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_url_is_contains() {
        for s in [
            "",
            ":",
            "://",
            "a://b",
            "x:/",
            "x:/ /",
            "ab:",
            "https://h",
            "a:b//",
            "é://",
        ] {
            assert_eq!(super::has_url(s), s.contains("://"), "{s}");
        }
    }
}
