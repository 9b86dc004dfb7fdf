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
//! Lines go through a non-blocking writer ([`writer`]) with a bounded buffer; when it is full,
//! lines are dropped rather than blocking the application, and counted in
//! `observa_log_dropped_total`.

pub mod file;
/// The JSON writer of every sink (it lives in the crate's one encoding module).
pub use crate::encode::json;
mod line;
/// The one neutraliser of every sink (it lives in the crate's one encoding module).
pub use crate::encode::neutralise;
pub(crate) mod writer;

use line::Enc;
pub use line::TRUNCATED_KEY;

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

pub use crate::completion::{COMPLETION, COMPLETION_FIELDS};

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
    pub(crate) route: Route,
}

/// Which lines a sink takes, by the route of their target ([`Layer::route_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Every line (stdout).
    All,
    /// Lines of no routed target (the main file).
    Unrouted,
    /// Lines of the routed targets with this file index.
    Routed(usize),
}

impl Route {
    #[inline]
    fn takes(self, routed: Option<usize>) -> bool {
        match self {
            Route::All => true,
            Route::Unrouted => routed.is_none(),
            Route::Routed(i) => routed == Some(i),
        }
    }
}

/// The observa `tracing` layer.
pub struct Layer {
    dispatch: OnceLock<tracing::dispatcher::WeakDispatch>,
    sinks: Vec<Sink>,
    /// Routed targets and their file index, longest target first.
    routes: Vec<(String, usize)>,
    max_value: usize,
    max_line: usize,
    production: bool,
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layer")
            .field("sinks", &self.sinks.len())
            .field("routes", &self.routes)
            .field("max_value", &self.max_value)
            .field("max_line", &self.max_line)
            .field("production", &self.production)
            .finish_non_exhaustive()
    }
}

static DROPPED: OnceLock<Vec<writer::LineWriter>> = OnceLock::new();
static DROPPED_SEEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn install_drop_counters(counters: Vec<writer::LineWriter>) {
    let _ = DROPPED.set(counters);
}

inventory::submit! { crate::metrics::BeforeRender(sync_dropped_metric) }

/// Brings `observa_log_dropped_total` up to date (before every [`crate::metrics::render`]).
fn sync_dropped_metric() {
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
    sync_line_counters();
}

/// Brings the key and line-bound counters up to date: `observa_log_fields_renamed_total`,
/// `observa_log_fields_dropped_total`, `observa_log_lines_truncated_total`.
fn sync_line_counters() {
    type Synced = (
        &'static AtomicU64,
        AtomicU64,
        Option<prometheus::IntCounter>,
    );
    static COUNTERS: OnceLock<[Synced; 3]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        let c = |name: &str, help: &str| crate::metrics::counter(name, help).ok();
        [
            (
                &line::RENAMED,
                AtomicU64::new(0),
                c(
                    "observa_log_fields_renamed_total",
                    "Event fields renamed because their key was already in the line",
                ),
            ),
            (
                &line::DROPPED,
                AtomicU64::new(0),
                c(
                    "observa_log_fields_dropped_total",
                    "Event fields dropped because their key and every renamed form were taken",
                ),
            ),
            (
                &line::TRUNCATED,
                AtomicU64::new(0),
                c(
                    "observa_log_lines_truncated_total",
                    "Log lines cut to the line bound (OBSERVA_LOG_MAX_LINE_BYTES)",
                ),
            ),
        ]
    });
    for (source, seen, counter) in counters {
        let total = source.load(Ordering::Relaxed);
        let before = seen.swap(total, Ordering::Relaxed);
        if let Some(c) = counter
            && total > before
        {
            c.inc_by(total - before);
        }
    }
}

impl Layer {
    pub(crate) fn new(
        sinks: Vec<Sink>,
        mut routes: Vec<(String, usize)>,
        max_value: usize,
        max_line: usize,
        production: bool,
    ) -> Layer {
        routes.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        Layer {
            dispatch: OnceLock::new(),
            sinks,
            routes,
            max_value,
            max_line: max_line.max(json::MIN_MAX_LINE_BYTES),
            production,
        }
    }
}

impl Layer {
    /// The file index of the route `target` belongs to: the longest routed target equal to it
    /// or followed in it by `::` or `.`.
    #[inline]
    fn route_of(&self, target: &str) -> Option<usize> {
        self.routes.iter().find_map(|(t, i)| {
            let rest = target.strip_prefix(t.as_str())?;
            (rest.is_empty() || rest.starts_with("::") || rest.starts_with('.')).then_some(*i)
        })
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Capacity a scratch buffer keeps after an outsized line; larger buffers are released.
const SCRATCH_KEEP: usize = 16 * 1024;

/// Buffers reused by every line of a thread: no allocation per line once warm. After a line
/// that needed more than [`SCRATCH_KEEP`] in a buffer, the buffer is shrunk back, so one huge
/// event does not pin its peak size on the thread for ever.
struct Scratch {
    line: Vec<u8>,
    rest: Vec<u8>,
    text: Vec<u8>,
    event: String,
    message: String,
    tmp: String,
    members: Vec<line::Member>,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            line: Vec::new(),
            rest: Vec::new(),
            text: Vec::new(),
            event: String::new(),
            message: String::new(),
            tmp: String::new(),
            members: Vec::new(),
        }
    }

    fn shrink(&mut self) {
        fn v<T>(b: &mut Vec<T>) {
            if b.capacity() * std::mem::size_of::<T>() > SCRATCH_KEEP {
                b.clear();
                b.shrink_to(SCRATCH_KEEP / std::mem::size_of::<T>().max(1));
            }
        }
        fn s(b: &mut String) {
            if b.capacity() > SCRATCH_KEEP {
                b.clear();
                b.shrink_to(SCRATCH_KEEP);
            }
        }
        v(&mut self.line);
        v(&mut self.rest);
        v(&mut self.text);
        v(&mut self.members);
        s(&mut self.event);
        s(&mut self.message);
        s(&mut self.tmp);
    }
}

/// Capacity of every scratch buffer of this thread (tests of the shrink rule).
#[doc(hidden)]
pub fn scratch_capacity() -> usize {
    SCRATCH.with(|s| {
        s.try_borrow().map_or(0, |s| {
            s.line.capacity()
                + s.rest.capacity()
                + s.text.capacity()
                + s.event.capacity()
                + s.message.capacity()
                + s.tmp.capacity()
                + s.members.capacity() * std::mem::size_of::<line::Member>()
        })
    })
}

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
fn set_scrubbed(dst: &mut String, v: &dyn fmt::Display, max: usize) {
    dst.clear();
    let mut w = Capped {
        out: dst,
        cap: max.saturating_add(SCRUB_LOOKAHEAD),
        cut: false,
    };
    // A Display impl that fails only loses its own text, never the line.
    let _ = write!(w, "{v}");
    let cut = w.cut;
    if let std::borrow::Cow::Owned(s) = crate::scrub::scrub(dst) {
        *dst = s;
    }
    if dst.len() > max || cut {
        let end = crate::encode::text::prefix(dst, max).len();
        dst.truncate(end);
        dst.push_str(json::TRUNCATION_MARKER);
    }
}

/// What the visitor collected from one event.
struct Collected<'a> {
    enc: Enc,
    rest: &'a mut Vec<u8>,
    members: &'a mut Vec<line::Member>,
    reserved: &'a [&'a str],
    event: &'a mut String,
    has_event: bool,
    message: &'a mut String,
    has_message: bool,
    tmp: &'a mut String,
    max: usize,
    completion: bool,
    production: bool,
}

impl Collected<'_> {
    /// Writes the key of a new member (renamed when taken); false when it was dropped, and the
    /// value must then be skipped.
    fn key(&mut self, name: &str) -> bool {
        match line::line_key(self.rest, self.enc, self.reserved, self.members, name) {
            Some(m) => {
                self.members.push(m);
                true
            }
            None => false,
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
    fn free_text(&mut self, v: &dyn fmt::Display) {
        let mut tmp = std::mem::take(self.tmp);
        set_scrubbed(&mut tmp, v, self.max);
        // Already bounded (with its marker): written whole.
        match self.enc {
            Enc::Json => json::write_str(self.rest, &tmp, usize::MAX),
            Enc::Console => json::write_console_str(self.rest, &tmp, usize::MAX),
        }
        *self.tmp = tmp;
    }

    /// The text that replaces a foreign event's value under this key, if any.
    fn masked(&self, field: &Field) -> Option<&'static str> {
        if self.completion {
            return None;
        }
        foreign_key_mask(field.name(), self.production)
    }
}

/// `dst` = `v` bounded to `max` bytes (with the truncation marker).
fn set_text(dst: &mut String, v: &str, max: usize) {
    dst.clear();
    crate::encode::text::push_bounded(dst, v, max);
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

pub use crate::redact::SAFE_FIELDS;

impl Visit for Collected<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
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
            if !line::copy_fields(
                self.rest,
                self.enc,
                self.reserved,
                self.members,
                value,
                self.max,
                self.tmp,
            ) {
                crate::metrics::internal_error("log");
            }
            return;
        }
        // Text without a URL has nothing to scrub: written straight from the borrowed value.
        let url = value.contains("://");
        if name == "message" && !self.completion {
            if url {
                set_scrubbed(self.message, &value, self.max);
            } else {
                set_text(self.message, value, self.max);
            }
            self.has_message = true;
            return;
        }
        if self.open(field) {
            if url {
                self.free_text(&value);
            } else {
                self.text(value);
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name == "message" && !self.completion {
            set_scrubbed(self.message, &DebugAsDisplay(value), self.max);
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
            self.free_text(&DebugAsDisplay(value));
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
            self.free_text(&crate::outcome::ErrorView::Error(value));
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

/// `,"line_truncated":true` / ` line_truncated=true`: room kept for the line marker.
const MARKER_ROOM: usize = 24;

impl Layer {
    fn write_event(
        &self,
        event: &Event<'_>,
        trace: Option<&(String, String)>,
        scratch: &mut Scratch,
    ) {
        let meta = event.metadata();
        let completion = meta.name() == COMPLETION;
        let now = std::time::SystemTime::now();
        // The canonical keys this line carries: no field of the event may take them.
        let (corr, tenant, user, conn, bound) = context::with_current(|c| {
            (
                c.correlation_id().is_some(),
                c.tenant_id().is_some(),
                c.user_id().is_some(),
                c.connection_id().is_some(),
                c.fields_shared(),
            )
        });
        let mut reserved = [""; 11 + context::MAX_BOUND_FIELDS];
        let mut n = 0;
        for (k, on) in [
            ("timestamp", true),
            ("level", true),
            ("event", true),
            ("target", true),
            ("correlation_id", corr),
            ("tenant_id", tenant),
            ("user_id", user),
            ("connection_id", conn),
            ("trace_id", trace.is_some()),
            ("span_id", trace.is_some()),
            (line::TRUNCATED_KEY, true),
        ] {
            if on {
                reserved[n] = k;
                n += 1;
            }
        }
        // Bound fields follow the canonical keys; one that a canonical key already takes (a
        // bound `connection_id` inside a WebSocket connection) is written `<key>_1`.
        let bound: &[(std::sync::Arc<str>, std::sync::Arc<str>)] =
            bound.as_deref().map_or(&[], |b| &b[..]);
        let mut bound_renamed = [false; context::MAX_BOUND_FIELDS];
        for ((k, _), renamed) in bound.iter().zip(bound_renamed.iter_mut()) {
            if reserved[..n].contains(&&**k) {
                *renamed = true;
            } else if n < reserved.len() {
                reserved[n] = k;
                n += 1;
            }
        }
        let reserved = &reserved[..n];
        let routed = if self.routes.is_empty() {
            None
        } else {
            self.route_of(meta.target())
        };
        for sink in &self.sinks {
            if !sink.route.takes(routed) {
                continue;
            }
            let Scratch {
                line,
                rest,
                text,
                event: ev_buf,
                message: msg_buf,
                tmp,
                members,
            } = &mut *scratch;
            line.clear();
            rest.clear();
            text.clear();
            members.clear();
            let enc = match sink.format {
                Format::Json => Enc::Json,
                Format::Console => Enc::Console,
            };
            let mut c = Collected {
                enc,
                rest,
                members,
                reserved,
                event: ev_buf,
                has_event: false,
                message: msg_buf,
                has_message: false,
                tmp,
                max: self.max_value,
                completion,
                production: self.production,
            };
            event.record(&mut c);
            let (has_event, has_message) = (c.has_event, c.has_message);
            let ev: &str = if has_event { ev_buf } else { "log" };
            let message: Option<&str> = has_message.then_some(msg_buf.as_str());
            let max_line = self.max_line;
            let mut truncated = false;
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
                            ("connection_id", ctx.connection_id()),
                        ] {
                            if let Some(v) = v {
                                line.extend_from_slice(b",\"");
                                line.extend_from_slice(k.as_bytes());
                                line.extend_from_slice(b"\":");
                                json::write_str(line, v, 256);
                            }
                        }
                    });
                    for ((k, v), renamed) in bound.iter().zip(bound_renamed) {
                        line.extend_from_slice(b",\"");
                        line.extend_from_slice(k.as_bytes());
                        if renamed {
                            line.extend_from_slice(b"_1");
                        }
                        line.extend_from_slice(b"\":");
                        json::write_str(line, v, 256);
                    }
                    if let Some((t, sp)) = trace {
                        line.extend_from_slice(b",\"trace_id\":");
                        json::write_str(line, t, 64);
                        line.extend_from_slice(b",\"span_id\":");
                        json::write_str(line, sp, 64);
                    }
                    // The message (last in the line) is kept before any field.
                    if let Some(m) = message {
                        text.extend_from_slice(b",\"message\":");
                        let cap =
                            max_line.saturating_sub(line.len() + text.len() + 2 + MARKER_ROOM);
                        truncated |= line::write_text_capped(text, enc, m, self.max_value, cap);
                    }
                    let avail = max_line.saturating_sub(line.len() + text.len() + 2 + MARKER_ROOM);
                    truncated |= put_members(line, enc, rest, members, avail);
                    line.extend_from_slice(text);
                    if truncated {
                        line.extend_from_slice(b",\"");
                        line.extend_from_slice(line::TRUNCATED_KEY.as_bytes());
                        line.extend_from_slice(b"\":true");
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
                    // What follows the message, written first so the message knows its room.
                    text.extend_from_slice(b" target=");
                    json::write_console_str(text, meta.target(), 256);
                    context::with_current(|ctx| {
                        for (k, v) in [
                            ("correlation_id", ctx.correlation_id()),
                            ("tenant_id", ctx.tenant_id()),
                            ("user_id", ctx.user_id()),
                            ("connection_id", ctx.connection_id()),
                        ] {
                            if let Some(v) = v {
                                let _ = write!(VecWriter(text), " {k}=");
                                json::write_console_str(text, v, 256);
                            }
                        }
                    });
                    for ((k, v), renamed) in bound.iter().zip(bound_renamed) {
                        let suffix = if renamed { "_1" } else { "" };
                        let _ = write!(VecWriter(text), " {k}{suffix}=");
                        json::write_console_str(text, v, 256);
                    }
                    if let Some((t, sp)) = trace {
                        text.extend_from_slice(b" trace_id=");
                        json::write_console_str(text, t, 64);
                        text.extend_from_slice(b" span_id=");
                        json::write_console_str(text, sp, 64);
                    }
                    if let Some(m) = message {
                        line.push(b' ');
                        let cap =
                            max_line.saturating_sub(line.len() + text.len() + 1 + MARKER_ROOM);
                        truncated |= line::write_text_capped(line, enc, m, self.max_value, cap);
                    }
                    line.extend_from_slice(text);
                    let avail = max_line.saturating_sub(line.len() + 1 + MARKER_ROOM);
                    truncated |= put_members(line, enc, rest, members, avail);
                    if truncated {
                        line.push(b' ');
                        line.extend_from_slice(line::TRUNCATED_KEY.as_bytes());
                        line.extend_from_slice(b"=true");
                    }
                    line.push(b'\n');
                }
            }
            if truncated {
                line::TRUNCATED.fetch_add(1, Ordering::Relaxed);
            }
            // One whole line per write: lines are never split or interleaved.
            sink.writer.write_line(line);
        }
        scratch.shrink();
    }
}

/// Appends the members of `rest` to `line` within `avail` bytes: a member that does not fit
/// keeps its key with the value replaced by `"…[omitted N bytes]"`, or is left out when even
/// that does not fit. Returns true when anything was cut.
fn put_members(
    line: &mut Vec<u8>,
    enc: Enc,
    rest: &[u8],
    members: &[line::Member],
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
            let q = if enc == Enc::Json { "\"" } else { "" };
            let _ = std::io::Write::write_fmt(
                &mut w,
                format_args!("{q}…[omitted {} bytes]{q}", end - m.value),
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

pub use crate::encode::time::{timestamp_string, write_timestamp};
