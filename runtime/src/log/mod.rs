//! The log pipeline: a `tracing` layer that writes exactly one line per event.
//!
//! Line shape (JSON; the console format shows the same fields):
//! `timestamp` (RFC 3339 UTC, µs), `level`, `event`, `target`, then `correlation_id`,
//! `tenant_id`, `user_id`, `connection_id` when bound (never `null` noise), then the named
//! values bound for the scope ([`crate::context::bind_field`]), then the event's own fields.
//! Events of `#[observed]` carry `duration_ms`, `outcome`, `error`, `error_type` and the
//! recorded `fields(...)` as native JSON values (nested objects for `Redact` types). Events from
//! other code (`tracing::info!(...)`) get `event` from their `event` field if they have one and
//! `"log"` otherwise, and their text in `message`.
//!
//! Every text value is neutralised by the one neutraliser of every sink ([`neutralise`]: C0/C1
//! controls, DEL, U+2028/9, bidi controls, zero-width characters, U+FEFF and the tag block are
//! escaped) and bounded (`OBSERVA_LOG_MAX_VALUE_BYTES`, default 4 KiB, recorded `fields`
//! included) with a truncation marker. Error text and every free-text value of other code's
//! events (`message`, `error = %e`, any `%`/`?` value) go through the URL scrubber first: user
//! info removed, values of sensitive query parameters masked. Values under sensitive keys (see
//! [`crate::sensitive`]) written by code that bypasses observa are masked: the second line of
//! defence.
//!
//! Bounds of a line: lists and maps in recorded values keep at most [`json::MAX_ITEMS`] items
//! (the rest counted in a marker item); the whole line is at most `OBSERVA_LOG_MAX_LINE_BYTES`
//! (default 64 KiB, at least 16 KiB): the canonical fields and the message come first, then the
//! fields in order; a field that does not fit keeps its key with `"…[omitted N bytes]"` (or is
//! left out when even that does not fit) and the line gets `"line_truncated":true`
//! ([`TRUNCATED_KEY`]), counted in `observa_log_lines_truncated_total`. It is still one valid
//! JSON object. A thread's scratch buffers shrink back to 16 KiB after an outsized line.
//!
//! Keys: no line carries a key twice. A field whose key is already in the line (a canonical
//! key such as `tenant_id` when a tenant is bound, or an earlier field) is renamed `<key>_1`,
//! `<key>_2`, ... and counted in `observa_log_fields_renamed_total` (dropped and counted in
//! `observa_log_fields_dropped_total` when `_1` to `_8` are taken too).
//!
//! Sinks: stdout takes every line; the main file ([`file`](mod@file)) every line whose target
//! is not routed; a routed file (`OBSERVA_LOG_ROUTES`) the lines of its targets and their
//! children (`target::x`, `target.x`), the longest matching route winning.
//!
//! Lines go through a non-blocking writer (`writer`) with a bounded buffer; when it is full,
//! lines are dropped rather than blocking the application, and counted in
//! `observa_log_dropped_total`.
//!
//! Files by role: `layer` (the `tracing` layer: filtering, routes, span and trace ids, one
//! line per sink), `visitor` (the field visitor that collects an event), `format/` (one file
//! per line format behind a crate-private `LineFormat` trait: `json.rs`, `console.rs`), `line`
//! (keys written once, the trusted `fields` channel, text cut to the line bound), `counters`
//! (the pipeline's own metrics), [`file`](mod@file) and `writer` (sinks).
//!
//! **Console format.** `<timestamp> LEVEL event message`, then every field as a logfmt
//! `key=value` pair (`target`, the bound context, the event's fields). A value is bare when it
//! is not empty and has no whitespace, `=`, `"` or dangerous character; otherwise it is
//! double-quoted with `\"` and `\\` escapes, dangerous characters shown by the neutraliser
//! (`\n`, `\u{..}`), so a value never breaks the line. A nested object or list recorded from a
//! `Redact` type is one quoted value holding its compact JSON text:
//! `customer="{\"tier\":\"gold\",\"card\":\"[REDACTED]\"}"` (one key per recorded field,
//! as in the JSON line, and unquoting it gives JSON). Production forces the JSON format.

mod counters;
pub mod file;
mod format;
/// The JSON writer of every sink (it lives in the crate's one encoding module).
pub use crate::encode::json;
mod layer;
pub(crate) mod line;
/// The one neutraliser of every sink (it lives in the crate's one encoding module).
pub use crate::encode::neutralise;
mod visitor;
pub(crate) mod writer;

pub(crate) use counters::install_drop_counters;
pub use layer::Layer;
pub use layer::scratch_capacity;
pub(crate) use layer::{Route, Sink};
pub use line::TRUNCATED_KEY;
pub use visitor::foreign_key_mask;

pub use crate::completion::{COMPLETION, COMPLETION_FIELDS};
pub use crate::encode::time::{timestamp_string, write_timestamp};
pub use crate::redact::SAFE_FIELDS;

/// Output format of a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// One coloured human-readable line per event, its fields as logfmt `key=value` pairs.
    Console,
}
