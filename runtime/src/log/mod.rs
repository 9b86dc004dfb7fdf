//! The log pipeline: a `tracing` layer that writes exactly one line per event.
//!
//! Line shape (JSON; the console format shows the same fields):
//! `timestamp` (RFC 3339 UTC, µs), `level`, `event`, `target`, then `correlation_id`,
//! `tenant_id`, `user_id` when bound (never `null` noise), then the event's own fields.
//! Events of `#[observed]` carry `duration_ms`, `outcome`, `error`, `error_type` and the
//! recorded `fields(...)` as native JSON values (nested objects for `Redact` types). Events from
//! other code (`tracing::info!(...)`) get `event` from their `event` field if they have one and
//! `"log"` otherwise, and their text in `message`.
//!
//! Every text value is neutralised (controls, DEL, C1, U+2028/9 and bidi controls escaped; see
//! [`json::is_dangerous`]) and bounded (`OBSERVA_LOG_MAX_VALUE_BYTES`, default 4 KiB) with a
//! truncation marker. Values under sensitive keys (see [`crate::sensitive`]) written by code that
//! bypasses observa are masked: the second line of defence.
//!
//! Lines go through a non-blocking writer ([`writer`]) with a bounded buffer; when it is full,
//! lines are dropped rather than blocking the application, and counted in
//! `observa_log_dropped_total`.

pub mod file;
pub mod json;
pub(crate) mod writer;

use crate::context;
use crate::record::REDACTED;
use json::VecWriter;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;

/// Name of the metadata of observa's own completion events (`<event>.completed` / `.failed`).
pub const COMPLETION: &str = "observa.completion";

/// Field names of completion events, in order.
pub const COMPLETION_FIELDS: &[&str] = &[
    "event",
    "duration_ms",
    "outcome",
    "error",
    "error_type",
    "fields",
];

/// Output format of a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// One coloured human-readable line per event.
    Console,
}

/// A configured sink: where lines go and in which format.
pub(crate) struct Sink {
    pub(crate) format: Format,
    pub(crate) writer: writer::LineWriter,
    pub(crate) color: bool,
}

/// The observa `tracing` layer.
pub struct Layer {
    dispatch: OnceLock<tracing::dispatcher::WeakDispatch>,
    sinks: Vec<Sink>,
    max_value: usize,
    production: bool,
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layer")
            .field("sinks", &self.sinks.len())
            .field("max_value", &self.max_value)
            .field("production", &self.production)
            .finish_non_exhaustive()
    }
}

static DROPPED: OnceLock<Vec<writer::LineWriter>> = OnceLock::new();
static DROPPED_SEEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn install_drop_counters(counters: Vec<writer::LineWriter>) {
    let _ = DROPPED.set(counters);
}

/// Brings `observa_log_dropped_total` up to date (called by [`crate::metrics::render`]).
pub(crate) fn sync_dropped_metric() {
    static COUNTER: OnceLock<Option<prometheus::IntCounter>> = OnceLock::new();
    let Some(c) = COUNTER
        .get_or_init(|| {
            crate::metrics::counter(
                "observa_log_dropped_total",
                "Log lines dropped because the writer queue was full",
            )
            .ok()
        })
        .as_ref()
    else {
        return;
    };
    let total: u64 = DROPPED
        .get()
        .map(|v| v.iter().map(writer::LineWriter::dropped).sum())
        .unwrap_or(0);
    let seen = DROPPED_SEEN.swap(total, Ordering::Relaxed);
    if total > seen {
        c.inc_by(total - seen);
    }
}

impl Layer {
    pub(crate) fn new(sinks: Vec<Sink>, max_value: usize, production: bool) -> Layer {
        Layer {
            dispatch: OnceLock::new(),
            sinks,
            max_value,
            production,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Buffers reused by every line of a thread: no allocation per line once warm.
struct Scratch {
    line: Vec<u8>,
    rest: Vec<u8>,
    event: String,
    message: String,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            line: Vec::new(),
            rest: Vec::new(),
            event: String::new(),
            message: String::new(),
        }
    }
}

/// `dst` = `v` bounded to `max` bytes (with the truncation marker).
fn set_text(dst: &mut String, v: &str, max: usize) {
    dst.clear();
    if v.len() <= max {
        dst.push_str(v);
    } else {
        let mut end = max;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        dst.push_str(&v[..end]);
        dst.push_str(json::TRUNCATION_MARKER);
    }
}

/// `dst` = `Debug` of `v`, bounded.
fn set_debug(dst: &mut String, v: &dyn fmt::Debug, max: usize) {
    dst.clear();
    let _ = write!(dst, "{v:?}");
    if dst.len() > max {
        let mut end = max;
        while !dst.is_char_boundary(end) {
            end -= 1;
        }
        dst.truncate(end);
        dst.push_str(json::TRUNCATION_MARKER);
    }
}

/// What the visitor collected from one event.
struct Collected<'a> {
    enc: Enc,
    rest: &'a mut Vec<u8>,
    event: &'a mut String,
    has_event: bool,
    message: &'a mut String,
    has_message: bool,
    max: usize,
    completion: bool,
    production: bool,
}

#[derive(Clone, Copy)]
enum Enc {
    Json,
    Console,
}

impl Collected<'_> {
    fn key(&mut self, name: &str) {
        match self.enc {
            Enc::Json => {
                self.rest.push(b',');
                json::write_str(self.rest, name, 128);
                self.rest.push(b':');
            }
            Enc::Console => {
                self.rest.push(b' ');
                json::write_console_str(self.rest, name, 128);
                self.rest.push(b'=');
            }
        }
    }

    fn text(&mut self, s: &str) {
        match self.enc {
            Enc::Json => json::write_str(self.rest, s, self.max),
            Enc::Console => json::write_console_str(self.rest, s, self.max),
        }
    }

    /// Writes the key of `field`; when its value must be masked, writes the mask too and returns
    /// false (the caller writes the value only on true).
    fn open(&mut self, field: &Field) -> bool {
        self.key(field.name());
        match self.masked(field) {
            Some(m) => {
                self.text(m);
                false
            }
            None => true,
        }
    }

    /// The text that replaces a foreign event's value under this key, if any.
    fn masked(&self, field: &Field) -> Option<&'static str> {
        if self.completion {
            return None;
        }
        foreign_key_mask(field.name(), self.production)
    }
}

/// What replaces a value recorded under `key` by code that bypasses observa: [`REDACTED`] for a
/// sensitive name, `[FILTERED]` for a key outside the production allowlist ([`SAFE_FIELDS`]; not
/// secret as far as we know, just not approved for production logs), `None` to keep it. The
/// decision is [`crate::redact::key_action`]'s.
pub fn foreign_key_mask(key: &str, production: bool) -> Option<&'static str> {
    use crate::redact::KeyAction;
    match crate::redact::key_action(key, production.then_some(SAFE_FIELDS)) {
        KeyAction::Keep => None,
        KeyAction::Mask => Some(REDACTED),
        KeyAction::Filter => Some(crate::redact::FILTERED),
    }
}

/// Keys shown as-is in production for events of unknown origin (the seeds' `SAFE_FIELDS`).
pub const SAFE_FIELDS: &[&str] = &[
    "message",
    "event",
    "method",
    "path",
    "route",
    "status",
    "status_code",
    "duration_ms",
    "outcome",
    "error",
    "error_type",
    "request_id",
    "correlation_id",
    "trace_id",
    "span_id",
    "tenant_id",
    "team_id",
    "user_id",
    "job_id",
    "task_id",
    "queue",
    "count",
    "size",
    "attempt",
    "provider",
    "endpoint",
    "service",
    "operation",
    "component",
    "reason",
    "code",
    "kind",
];

impl Visit for Collected<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if name == "event" {
            set_text(self.event, value, 256);
            self.has_event = true;
            return;
        }
        if self.completion && name == "fields" {
            // Trusted JSON object text written by observa itself: inline its members.
            let inner = value
                .strip_prefix('{')
                .and_then(|v| v.strip_suffix('}'))
                .unwrap_or("");
            if !inner.is_empty() {
                match self.enc {
                    Enc::Json => {
                        self.rest.push(b',');
                        self.rest.extend_from_slice(inner.as_bytes());
                    }
                    Enc::Console => {
                        self.rest.push(b' ');
                        json::write_console_str(self.rest, inner, self.max);
                    }
                }
            }
            return;
        }
        if name == "message" && !self.completion {
            set_text(self.message, value, self.max);
            self.has_message = true;
            return;
        }
        self.key(name);
        if let Some(m) = self.masked(field) {
            self.text(m);
        } else {
            self.text(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name == "message" && !self.completion {
            set_debug(self.message, value, self.max);
            self.has_message = true;
            return;
        }
        if name == "event" {
            set_debug(self.event, value, 256);
            self.has_event = true;
            return;
        }
        self.key(name);
        if let Some(m) = self.masked(field) {
            self.text(m);
            return;
        }
        match self.enc {
            Enc::Json => json::write_display(self.rest, &DebugAsDisplay(value), self.max),
            Enc::Console => {
                let mut s = String::new();
                let _ = write!(s, "{value:?}");
                json::write_console_str(self.rest, &s, self.max);
            }
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
        if self.completion && field.name() == "duration_ms" {
            self.key("duration_ms");
            return json::write_ms(self.rest, value);
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
        if !self.open(field) {
            return;
        }
        let view = crate::outcome::ErrorView::Error(value);
        match self.enc {
            Enc::Json => json::write_display(self.rest, &view, self.max),
            Enc::Console => json::write_console_str(self.rest, &view.to_string(), self.max),
        }
    }
}

struct DebugAsDisplay<'a>(&'a dyn fmt::Debug);

impl fmt::Display for DebugAsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

const fn level_str(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
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

impl<S> tracing_subscriber::Layer<S> for Layer
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    /// Spans are needed only by an exporter: with no OTLP pipeline installed the stack has no
    /// consumer of spans (this layer reads the context, not spans), so span callsites are
    /// disabled and `#[observed]` (and every other crate) skips creating them. Events are
    /// always of interest; the filter decides.
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        if meta.is_span() && !crate::trace::active() {
            tracing_core::subscriber::Interest::never()
        } else {
            tracing_core::subscriber::Interest::always()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: LayerContext<'_, S>) -> bool {
        !meta.is_span() || crate::trace::active()
    }

    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        // `trace_id` / `span_id` of the current span, when OTLP tracing is on.
        #[cfg(feature = "otlp")]
        let trace = if crate::trace::active() {
            self.trace_ids(ctx.lookup_current().map(|s| s.id()))
        } else {
            None
        };
        #[cfg(not(feature = "otlp"))]
        let trace = {
            let _ = &ctx;
            None::<(String, String)>
        };
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut bufs) => {
                self.write_event(event, trace.as_ref(), &mut bufs);
            }
            // An event emitted while formatting another (a Display impl that logs).
            Err(_) => self.write_event(event, trace.as_ref(), &mut Scratch::new()),
        });
    }
}

impl Layer {
    #[cfg(feature = "otlp")]
    fn trace_ids(&self, id: Option<tracing::span::Id>) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        crate::trace::ids(&dispatch, &id?)
    }
}

impl Layer {
    fn write_event(
        &self,
        event: &Event<'_>,
        trace: Option<&(String, String)>,
        scratch: &mut Scratch,
    ) {
        let Scratch {
            line,
            rest,
            event: ev_buf,
            message: msg_buf,
        } = scratch;
        let meta = event.metadata();
        let completion = meta.name() == COMPLETION;
        let now = std::time::SystemTime::now();
        for sink in &self.sinks {
            line.clear();
            rest.clear();
            let enc = match sink.format {
                Format::Json => Enc::Json,
                Format::Console => Enc::Console,
            };
            let mut c = Collected {
                enc,
                rest,
                event: ev_buf,
                has_event: false,
                message: msg_buf,
                has_message: false,
                max: self.max_value,
                completion,
                production: self.production,
            };
            event.record(&mut c);
            let (has_event, has_message) = (c.has_event, c.has_message);
            let ev: &str = if has_event { ev_buf } else { "log" };
            let message: Option<&str> = has_message.then_some(msg_buf.as_str());
            match sink.format {
                Format::Json => {
                    line.extend_from_slice(b"{\"timestamp\":\"");
                    write_timestamp(line, now);
                    line.extend_from_slice(b"\",\"level\":\"");
                    line.extend_from_slice(level_str(meta.level()).as_bytes());
                    line.extend_from_slice(b"\",\"event\":");
                    json::write_str(line, ev, 256);
                    line.extend_from_slice(b",\"target\":");
                    json::write_str(line, meta.target(), 256);
                    context::with_current(|ctx| {
                        for (k, v) in [
                            ("correlation_id", ctx.correlation_id()),
                            ("tenant_id", ctx.tenant_id()),
                            ("user_id", ctx.user_id()),
                        ] {
                            if let Some(v) = v {
                                line.extend_from_slice(b",\"");
                                line.extend_from_slice(k.as_bytes());
                                line.extend_from_slice(b"\":");
                                json::write_str(line, v, 256);
                            }
                        }
                    });
                    if let Some((t, sp)) = trace {
                        line.extend_from_slice(b",\"trace_id\":");
                        json::write_str(line, t, 64);
                        line.extend_from_slice(b",\"span_id\":");
                        json::write_str(line, sp, 64);
                    }
                    line.extend_from_slice(rest);
                    if let Some(m) = &message {
                        line.extend_from_slice(b",\"message\":");
                        json::write_str(line, m, self.max_value);
                    }
                    line.extend_from_slice(b"}\n");
                }
                Format::Console => {
                    write_timestamp(line, now);
                    line.push(b' ');
                    if sink.color {
                        line.extend_from_slice(level_color(meta.level()).as_bytes());
                    }
                    let _ = write!(
                        VecWriter(line),
                        "{:<5}",
                        level_str(meta.level()).to_ascii_uppercase()
                    );
                    if sink.color {
                        line.extend_from_slice(b"\x1b[0m\x1b[1m");
                    }
                    line.push(b' ');
                    json::write_console_str(line, ev, 256);
                    if sink.color {
                        line.extend_from_slice(b"\x1b[0m");
                    }
                    if let Some(m) = &message {
                        line.push(b' ');
                        json::write_console_str(line, m, self.max_value);
                    }
                    line.extend_from_slice(b" target=");
                    json::write_console_str(line, meta.target(), 256);
                    context::with_current(|ctx| {
                        for (k, v) in [
                            ("correlation_id", ctx.correlation_id()),
                            ("tenant_id", ctx.tenant_id()),
                            ("user_id", ctx.user_id()),
                        ] {
                            if let Some(v) = v {
                                let _ = write!(VecWriter(line), " {k}=");
                                json::write_console_str(line, v, 256);
                            }
                        }
                    });
                    if let Some((t, sp)) = trace {
                        let _ = write!(VecWriter(line), " trace_id={t} span_id={sp}");
                    }
                    line.extend_from_slice(rest);
                    line.push(b'\n');
                }
            }
            // One whole line per write: lines are never split or interleaved.
            sink.writer.write_line(line);
        }
    }
}

/// Writes `t` as RFC 3339 UTC with microseconds: `2026-11-22T04:53:08.123456Z`.
pub fn write_timestamp(out: &mut Vec<u8>, t: std::time::SystemTime) {
    // The `YYYY-MM-DDTHH:MM:SS.` prefix changes once a second: cache it per thread and write
    // only the microseconds (the hot path of every log line).
    thread_local! {
        static PREFIX: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
    }
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let (cached, prefix) = PREFIX.get();
    let prefix = if cached == secs {
        prefix
    } else {
        let mut v = Vec::with_capacity(20);
        write_date_time(&mut v, secs as i64);
        match <[u8; 20]>::try_from(v.as_slice()) {
            Ok(p) => {
                PREFIX.set((secs, p));
                p
            }
            // A year outside 0000..=9999: no cache.
            Err(_) => {
                out.extend_from_slice(&v);
                let _ = write!(VecWriter(out), "{micros:06}Z");
                return;
            }
        }
    };
    out.extend_from_slice(&prefix);
    let mut digits = [b'0'; 7];
    let mut m = micros;
    for d in digits[..6].iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    digits[6] = b'Z';
    out.extend_from_slice(&digits);
}

/// `YYYY-MM-DDTHH:MM:SS.` for `secs` since the epoch.
fn write_date_time(out: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let _ = write!(
        VecWriter(out),
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
}

/// RFC 3339 UTC timestamp with microseconds, as a `String`.
pub fn timestamp_string(t: std::time::SystemTime) -> String {
    let mut v = Vec::with_capacity(27);
    write_timestamp(&mut v, t);
    String::from_utf8(v).unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(timestamp_string(t), "2026-11-18T11:06:40.123456Z");
        assert_eq!(
            timestamp_string(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp_string(leap), "2000-02-29T00:00:00.000000Z");
        // Same second again (cached prefix), other microseconds.
        let same = leap + std::time::Duration::from_micros(7);
        assert_eq!(timestamp_string(same), "2000-02-29T00:00:00.000007Z");
    }
}
