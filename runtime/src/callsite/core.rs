//! One call's books ([`Core`]): built idle, filled by [`Core::begin`] (metrics, clock, span,
//! rendered fields), closed by [`Core::finish`] (metrics, span status, completion event), and
//! the guards that keep a panicking subscriber or body from leaving the thread changed.

use super::field::new_span;
use super::metrics::{ShardRef, SiteMetrics};
use super::site::{Cs, Site};
use crate::context::Context;
use crate::encode::json;
use crate::outcome::{ErrorView, Finish, Outcome};
use crate::record::Record;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tracing::field::Value;
use tracing::level_filters::LevelFilter;
use tracing::{Level, Span};

use crate::encode::time::clock;

/// Raw clock ticks since `start` (a raw [`clock`] reading; 0 if the clock went back), and the
/// raw reading they end at: the stamp of the call's completion line (the log layer reads no
/// clock of its own for it). [`secs`] converts the ticks, only where seconds are needed.
#[inline]
pub(super) fn elapsed(start: u64) -> (u64, u64) {
    let end = clock().raw();
    (end.saturating_sub(start), end)
}

/// `ticks` raw clock ticks in seconds: the one conversion of call durations (lines, spans,
/// the histogram's buckets and sum).
#[inline]
pub(super) fn secs(ticks: u64) -> f64 {
    clock_nanos(ticks) as f64 * 1e-9
}

/// `ticks` raw clock ticks in nanoseconds, as the clock converts them.
#[inline]
pub(super) fn clock_nanos(ticks: u64) -> u64 {
    clock().delta_as_nanos(0, ticks)
}

/// Where [`Core::begin`] reads the call's context from, for the span and the own span that
/// carry its ids (nothing else at the start needs it).
pub(super) enum CallCtx<'a> {
    /// The thread's current context: the call runs in it.
    Current,
    /// The call's own context.
    Own(&'a mut Context),
    /// A fresh async call's ([`crate::context::FreshCall`]): built as a value only when a span
    /// needs it, into the call's own slot, which it keeps from then on (the fresh call is taken:
    /// a subscriber may want the span although it did not a moment before, when the call chose
    /// the fresh path).
    Fresh(
        &'a mut Option<crate::context::FreshCall>,
        &'a mut Option<Box<Context>>,
    ),
}

impl CallCtx<'_> {
    /// The context as a value, `None` for the current one.
    fn get(&mut self) -> Option<&mut Context> {
        match self {
            CallCtx::Current => None,
            CallCtx::Own(c) => Some(c),
            CallCtx::Fresh(fresh, slot) => {
                if let Some(f) = fresh.take() {
                    **slot = Some(Box::new(f.context()));
                }
                slot.as_deref_mut()
            }
        }
    }
}

impl<'a> From<Option<&'a mut Context>> for CallCtx<'a> {
    #[inline]
    fn from(c: Option<&'a mut Context>) -> CallCtx<'a> {
        match c {
            Some(c) => CallCtx::Own(c),
            None => CallCtx::Current,
        }
    }
}

/// Indices of [`super::site::SiteInfo::names`].
const COMPLETED: usize = 0;
/// See [`COMPLETED`].
const FAILED: usize = 1;
/// See [`COMPLETED`].
const STARTED: usize = 2;

/// A raw reading of the duration clock.
#[inline]
pub(super) fn now() -> u64 {
    clock().raw()
}

/// Is a callsite whose level passes the global filter enabled for the current subscriber? (What
/// `tracing`'s macros check after the level: [`event_enabled`] and [`span_enabled`] check it
/// first, from the site, so a level filtered out does not look the callsites up.)
#[inline]
fn enabled(cs: &'static Cs) -> bool {
    let interest = cs.interest();
    if interest.is_never() {
        return false;
    }
    interest.is_always() || tracing::dispatcher::get_default(|d| d.enabled(cs.meta()))
}

/// The site's completion callsite at `level` when it is enabled: the level against the global
/// filter, then [`enabled`].
#[inline]
pub(super) fn event_enabled(site: &'static Site, level: Level) -> Option<&'static Cs> {
    if level > LevelFilter::current() {
        return None;
    }
    let cs = site.event_cs(level);
    enabled(cs).then_some(cs)
}

/// Is the site's span callsite enabled? (As [`event_enabled`].)
#[inline]
pub(super) fn span_enabled(site: &'static Site) -> bool {
    site.info.opts.level <= LevelFilter::current() && enabled(site.span_cs())
}

/// Runs subscriber code while the thread unwinds (the failed event, span exit and close): a
/// second panic there would abort the process, so it is caught and dropped.
pub(super) fn while_unwinding(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        // Dropping a payload can itself panic; keep it from unwinding through a destructor.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// The panic outcome of a call.
pub(super) const PANICKED: Finish<'static> = Finish {
    outcome: Outcome::Panic,
    error: Some(ErrorView::Message("panicked")),
    error_type: "panic",
};

/// One call's books: metrics, clock, span, rendered fields.
///
/// Built idle ([`Core::idle`], no user code) before anything that can panic, then filled by
/// [`Core::begin`], which runs user code (`Record` impls, masks, subscribers). From the moment
/// `begin` counts the call as started, `done` is false: whoever drops the call (also while
/// unwinding out of `begin` itself) records an outcome, so the in-flight gauge stays balanced.
pub(super) struct Core {
    pub(super) site: &'static Site,
    pub(super) metrics: Option<&'static SiteMetrics>,
    /// This thread's metrics shard, for a call that finishes on the thread it began on (sync);
    /// `None` for an async call (it may finish on another thread: looked up there).
    pub(super) shard: Option<ShardRef>,
    /// Raw clock reading (TSC ticks where available); scaled once, at finish.
    pub(super) start: u64,
    /// The `tracing` span, when a subscriber wants it (boxed: most calls have none, and a
    /// smaller `Call` is moved without a `memcpy` call).
    pub(super) span: Option<Box<Span>>,
    pub(super) fields: Vec<u8>,
    /// Length of `fields` as `begin` rendered it (0: not rendered there): while the text is
    /// that long, it is exactly the site's members under its rendered keys.
    pub(super) rendered: usize,
    /// No outcome is owed (idle, or already recorded).
    pub(super) done: bool,
    /// `begin` ran to the end (an async call dropped before that panicked while starting).
    pub(super) begun: bool,
    /// The span is entered on this thread: `exit` is owed.
    pub(super) entered: bool,
    /// An async call whose body completed in a poll entered through the fast path: that
    /// context is still entered, for the call's end, which exits it (`super::future`). Kept
    /// here, where it costs no space (the flags above leave room), not in the async call.
    pub(super) kept: bool,
    /// Resource use (`crate::resource`), measured over the body's polls when on.
    pub(super) meter: crate::resource::Meter,
    /// The call's own span when OTLP export is on ([`crate::trace::OwnSpan`]); boxed: inline
    /// it made every call (the metrics-only path too) move a larger `Call` (+140 instructions
    /// of `memcpy` per call, callgrind).
    #[cfg(feature = "otlp")]
    pub(super) own: Option<Box<crate::trace::OwnSpan>>,
}

thread_local! {
    /// The buffer of the last call on this thread that rendered fields, kept for the next one
    /// (a call with fields would otherwise allocate and free one each time).
    static FIELDS_SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Capacity of the fields buffer a thread keeps between calls.
const FIELDS_KEEP: usize = 1024;

/// Keeps `buf` as the thread's spare fields buffer ([`FIELDS_SPARE`]) when it is small enough.
/// Out of line: inlined (with its thread-local access), the full-output call with a tenant,
/// which has no fields, ran 5-8% slower in same-minute A/B runs with no instruction more on
/// its path.
#[inline(never)]
fn keep_spare(mut buf: Vec<u8>) {
    if buf.capacity() <= FIELDS_KEEP {
        buf.clear();
        // (A nested call's buffer, already kept, is freed here instead; in a thread-local
        // destructor, after this one's, the buffer is just freed.)
        let _ = FIELDS_SPARE.try_with(|s| drop(s.replace(buf)));
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if self.fields.capacity() != 0 {
            keep_spare(std::mem::take(&mut self.fields));
        }
        // Closing the span runs subscriber code: never let it panic while unwinding.
        if self.span.is_some()
            && std::thread::panicking()
            && let Some(span) = self.span.take()
        {
            while_unwinding(move || drop(span));
        }
        // (Checked before it is taken: no store for the calls without a span.)
        #[cfg(feature = "otlp")]
        if self.own.is_some()
            && let Some(o) = self.own.take()
        {
            crate::trace::release_own(o);
        }
    }
}

impl Core {
    /// A call that has not started: owes nothing.
    #[inline]
    pub(super) fn idle(site: &'static Site) -> Core {
        Core {
            site,
            metrics: None,
            shard: None,
            start: 0,
            span: None,
            fields: Vec::new(),
            rendered: 0,
            done: true,
            begun: false,
            entered: false,
            kept: false,
            meter: crate::resource::Meter::OFF,
            #[cfg(feature = "otlp")]
            own: None,
        }
    }

    /// Counts the call as started, then creates its span and renders its fields (user code).
    #[inline]
    pub(super) fn begin(
        &mut self,
        mut ctx: CallCtx<'_>,
        values: &[&dyn Record],
        meter: crate::resource::Meter,
    ) {
        let site = self.site;
        // A core taken over from a lean call that counted the start already has its metrics.
        if self.metrics.is_none() {
            let metrics = site.metrics();
            if let Some(m) = metrics {
                self.shard = m.start();
            }
            self.metrics = metrics;
        }
        self.done = false;
        #[cfg(feature = "otlp")]
        if crate::trace::active() {
            self.begin_own(&mut ctx, values);
        }
        // The `tracing` span, for the layers that want it (observa's own never do: see
        // `crate::trace::is_site_span`). Assigned only when there is one: the idle core's empty
        // span (and, below, its empty fields) need no drop and no rebuild on the metrics-only
        // path.
        if span_enabled(site) {
            let span = new_span(site, ctx.get(), values);
            if !span.is_disabled() {
                self.span = Some(Box::new(span));
            }
        }
        // Rendered aside: a `Record` that panics halfway leaves no half-written JSON behind.
        if !values.is_empty() && event_enabled(site, Level::ERROR).is_some() {
            // The keys were rendered once, with their separators.
            let keys = site.field_keys().rendered();
            let need = keys.iter().map(|k| k.len()).sum::<usize>() + 16 * values.len() + 2;
            // The thread's spare when it is not much larger than the text (an async call
            // holds its buffer until it completes), else one of the size the text needs.
            let mut fields = FIELDS_SPARE
                .try_with(|s| {
                    let spare = s.take();
                    if spare.capacity() <= 2 * need + 64 {
                        spare
                    } else {
                        s.replace(spare)
                    }
                })
                .unwrap_or_default();
            fields.reserve(need);
            for (key, v) in keys.iter().zip(values) {
                fields.extend_from_slice(key);
                json::write_field_value(&mut fields, v.record());
            }
            if fields.is_empty() {
                fields.push(b'{');
            }
            fields.push(b'}');
            self.rendered = fields.len();
            self.fields = fields;
        }
        // The clock is read once: the duration covers the body only, span creation and
        // rendering excluded.
        self.start = now();
        self.meter = meter;
        self.begun = true;
    }

    /// Observa's own span (OTLP on): recorded when the site's level is enabled (the level of
    /// its completion line, whose callsite has the span's level and target), whether or not a
    /// `tracing` span is created for other layers. Out of line: the metrics-only path stays
    /// small.
    #[cfg(feature = "otlp")]
    #[inline(never)]
    fn begin_own(&mut self, ctx: &mut CallCtx<'_>, values: &[&dyn Record]) {
        let site = self.site;
        if event_enabled(site, site.info.opts.level).is_none() {
            return;
        }
        let view = site.own_view(values);
        self.own = match ctx.get() {
            Some(c) => {
                c.materialize_pending();
                crate::trace::OwnSpan::start(&view, c)
            }
            None => crate::context::with_current(|c| crate::trace::OwnSpan::start(&view, c)),
        };
    }

    /// Ends the own span (out of line, as [`Core::begin_own`]).
    #[cfg(feature = "otlp")]
    #[inline(never)]
    fn end_own(&mut self, outcome: Outcome, error: Option<ErrorView<'_>>, secs: f64) {
        if let Some(o) = self.own.as_deref_mut() {
            o.end(outcome, error, secs);
        }
    }

    /// `<event>.started` (the attribute's `started`). Written once the call's context is
    /// installed, so the line carries the call's tenant, correlation id and bound fields.
    #[inline]
    pub(super) fn started(&mut self) {
        let site = self.site;
        if site.info.opts.started
            && let Some(cs) = event_enabled(site, site.info.opts.level)
        {
            self.emit(cs, STARTED, None, None, None, "");
        }
    }

    /// Adds the `return` field (the attribute's `ret`).
    pub(super) fn ret(&mut self, v: Option<&dyn Record>) {
        let Some(v) = v else { return };
        if event_enabled(self.site, self.site.info.opts.level).is_none() {
            return;
        }
        if self.fields.is_empty() {
            self.fields.push(b'{');
        } else {
            self.fields.pop();
            self.fields.push(b',');
        }
        self.fields.extend_from_slice(b"\"return\":");
        json::write_field_value(&mut self.fields, v.record());
        self.fields.push(b'}');
    }

    /// Enters the span on this thread; [`Core::exit`] undoes it (once, and only if it happened).
    #[inline]
    pub(super) fn enter(&mut self) {
        if let Some(span) = &self.span {
            span.with_subscriber(|(id, d)| d.enter(id));
            self.entered = true;
        }
        #[cfg(feature = "otlp")]
        if self.own.is_some() {
            self.enter_own();
        }
    }

    #[inline]
    pub(super) fn exit(&mut self) {
        if std::mem::take(&mut self.entered) {
            #[cfg(feature = "otlp")]
            if self.own.is_some() {
                self.exit_own();
            }
            if let Some(span) = &self.span {
                span.with_subscriber(|(id, d)| d.exit(id));
            }
        }
    }

    /// Attaches the own span's context (out of line: calls without one stay small).
    #[cfg(feature = "otlp")]
    #[inline(never)]
    fn enter_own(&mut self) {
        if let Some(o) = &self.own {
            o.enter();
            self.entered = true;
        }
    }

    #[cfg(feature = "otlp")]
    #[inline(never)]
    fn exit_own(&mut self) {
        if let Some(o) = &self.own {
            o.exit();
        }
    }

    /// Enters the span until the returned guard drops (also while unwinding).
    pub(super) fn entered(&mut self) -> Entered<'_> {
        let e = Entered(self);
        e.0.enter();
        e
    }

    /// Records a panic: the message and, when asked for, a bounded backtrace (in the completion
    /// event's fields) from [`crate::failure`].
    pub(super) fn finish_panic(&mut self) {
        let report = crate::failure::last_panic();
        if let Some(bt) = report.as_ref().and_then(|r| r.backtrace.as_deref()) {
            crate::failure::append_json_field(&mut self.fields, "backtrace", bt);
        }
        self.finish(Finish {
            outcome: Outcome::Panic,
            error: Some(match &report {
                Some(r) => ErrorView::Display(&r.message),
                None => ErrorView::Message("panicked"),
            }),
            error_type: "panic",
        });
    }

    /// Whether [`Core::finish`] with `f` can write a completion event (which carries the
    /// context): when not, the call's context need not be installed to finish it.
    #[inline]
    pub(super) fn finish_reads_context(&self, f: &Finish<'_>) -> bool {
        if self.done {
            return false;
        }
        let site = self.site;
        match f.with_class(site.info.opts.class).outcome {
            Outcome::Ok => {
                event_enabled(site, site.info.opts.level).is_some()
                    || (site.info.opts.slow_ms > 0 && event_enabled(site, Level::WARN).is_some())
            }
            _ => true,
        }
    }

    /// Records the outcome: metrics, span status, completion event. Idempotent.
    #[inline]
    pub(super) fn finish(&mut self, f: Finish<'_>) {
        if self.done {
            return;
        }
        let f = f.with_class(self.site.info.opts.class);
        self.done = true;
        self.meter.pause();
        let (ticks, end) = elapsed(self.start);
        if let Some(m) = self.metrics {
            m.finish(self.shard, f.outcome, ticks);
        }
        self.complete(f, ticks, end);
    }

    /// What [`Core::finish`] records after the metrics (`f` already classified): resource use,
    /// span status, completion line, own span. Also the end of a lean call that writes a line
    /// ([`super::sync_call`]). `ticks`: the call's duration in raw clock ticks, converted only
    /// where seconds are written (the metrics-only path converts nothing).
    #[inline]
    pub(super) fn complete(&mut self, f: Finish<'_>, ticks: u64, end: u64) {
        let site = self.site;
        if let Some(u) = self.meter.usage() {
            crate::resource::observe(false, &[site.info.event], &u);
            crate::resource::write_fields(&mut self.fields, &u);
        }
        if let Some(span) = &self.span {
            // One `record` for the trailing fields (outcome, error, status, by position: see
            // `crate::completion`), instead of a lookup and a dispatch per field.
            use crate::completion::SPAN_TAIL;
            let fs = site.span_meta().fields();
            let n = fs.len();
            let outcome = f.outcome.as_str();
            let err = f.error.map(tracing::field::display);
            let failed = f.outcome.is_failure();
            let mut vals: [Option<&dyn Value>; 16] = [None; 16];
            if (SPAN_TAIL..=vals.len()).contains(&n) {
                let tail = n - SPAN_TAIL;
                vals[tail] = Some(&outcome);
                if failed {
                    vals[tail + 1] = err.as_ref().map(|e| e as &dyn Value);
                    vals[tail + 2] = Some(&"ERROR");
                }
                span.record_all(&fs.value_set_all(&vals[..n]));
            } else {
                span.record("outcome", outcome);
                if failed {
                    span.record("otel.status_code", "ERROR");
                    if let Some(e) = err {
                        span.record("error", e);
                    }
                }
            }
        }
        // The completion line (a labelled block, not a function: `f` stays in registers on the
        // metrics-only path, where nothing is written).
        'line: {
            let site = self.site;
            let slow =
                site.info.opts.slow_ms > 0 && secs(ticks) * 1e3 >= site.info.opts.slow_ms as f64;
            let (level, which) = match f.outcome {
                Outcome::Ok if slow => {
                    crate::lifecycle::slow::mark(&mut self.fields, site.info.opts.slow_ms);
                    (Level::WARN, COMPLETED)
                }
                Outcome::Ok => {
                    if site.info.opts.sample < 1.0
                        && crate::encode::rand::unit_f64() >= site.info.opts.sample
                    {
                        break 'line;
                    }
                    (site.info.opts.level, COMPLETED)
                }
                Outcome::ClientError => (Level::INFO, FAILED),
                Outcome::Cancelled => (Level::WARN, FAILED),
                Outcome::ServerError | Outcome::Panic => (Level::ERROR, FAILED),
            };
            // Checked here, once: a filtered-out completion costs nothing more.
            let Some(cs) = event_enabled(site, level) else {
                break 'line;
            };
            let ms = secs(ticks) * 1e3;
            self.emit(
                cs,
                which,
                Some((ms, f.outcome.as_str())),
                Some(end),
                f.error,
                f.error_type,
            );
        }
        #[cfg(feature = "otlp")]
        if self.own.is_some() {
            self.end_own(f.outcome, f.error, secs(ticks));
        }
    }

    /// Writes one of the call's lines at `level`, whose callsite `cs` the caller found enabled
    /// (asked once per line). Out of line: a written line costs thousands of instructions
    /// anyway, and inlined its frame (the value arrays) was set up on every call, the
    /// metrics-only path too.
    ///
    /// `which` indexes the site's event names ([`COMPLETED`], [`FAILED`], [`STARTED`]); `end`
    /// is the raw clock reading the call ended at, the line's stamp.
    #[inline(never)]
    fn emit(
        &mut self,
        cs: &'static Cs,
        which: usize,
        done: Option<(f64, &'static str)>,
        end: Option<u64>,
        error: Option<ErrorView<'_>>,
        error_type: &str,
    ) {
        // (Most calls render no fields: no UTF-8 check of an empty buffer, and the lending of
        // a text out of line.)
        if !self.fields.is_empty() {
            self.emit_fields(cs, which, (done, end), error, error_type);
            return;
        }
        let parts = Parts {
            site: self.site,
            keys: None,
            span: self.span.as_deref(),
            #[cfg(feature = "otlp")]
            own: &mut self.own,
        };
        parts.emit(cs, which, (done, end), error, error_type, "");
    }

    /// [`Core::emit`] of a call with a `fields` text: a copy of the text is lent to the thread
    /// for the dispatch when observa's own layer can read it without visiting the event
    /// ([`crate::completion::with_own_text`]).
    #[inline(never)]
    fn emit_fields(
        &mut self,
        cs: &'static Cs,
        which: usize,
        (done, end): (Option<(f64, &'static str)>, Option<u64>),
        error: Option<ErrorView<'_>>,
        error_type: &str,
    ) {
        // The site's keys, for a text that is exactly what `begin` rendered (members appended
        // since, by `ret`, a slow mark or resource use, are for the general path).
        let keys = (self.rendered > 0 && self.fields.len() == self.rendered)
            .then(|| self.site.field_keys());
        let parts = Parts {
            site: self.site,
            keys,
            span: self.span.as_deref(),
            #[cfg(feature = "otlp")]
            own: &mut self.own,
        };
        // Lent only when the layer can take its own-fields route (the site's keys, none a line
        // key): any other text is read by visiting the event, and a copy would be wasted.
        if keys.is_some_and(crate::completion::FieldKeys::free) {
            crate::completion::with_own_text(&self.fields, |fields| {
                parts.emit(cs, which, (done, end), error, error_type, fields);
            });
        } else {
            let fields = std::str::from_utf8(&self.fields).unwrap_or_default();
            parts.emit(cs, which, (done, end), error, error_type, fields);
        }
    }
}

/// What [`Core::emit`] reads of the call besides its fields text.
struct Parts<'a> {
    site: &'static Site,
    /// [`crate::completion::Typed::keys`].
    keys: Option<&'static crate::completion::FieldKeys>,
    /// The call's `tracing` span: the parent of its lines when they are on its own span.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    span: Option<&'a Span>,
    #[cfg(feature = "otlp")]
    own: &'a mut Option<Box<crate::trace::OwnSpan>>,
}

impl Parts<'_> {
    /// [`Core::emit`] with the call's `fields` text.
    #[inline(always)]
    fn emit(
        self,
        cs: &'static Cs,
        which: usize,
        (done, end): (Option<(f64, &'static str)>, Option<u64>),
        error: Option<ErrorView<'_>>,
        error_type: &str,
        fields: &str,
    ) {
        let name = self.site.info.names[which];
        let meta = cs.meta();
        let fs = meta.fields();
        // The same event on the call's own span (OTLP on), typed; a call without one records
        // it on the own span it runs in, if any.
        #[cfg(feature = "otlp")]
        let recorded = crate::trace::active()
            && record_event(
                self.own,
                crate::trace::CallEvent {
                    name,
                    at: done.map_or(0.0, |(ms, _)| ms * 1e-3),
                    level: *meta.level(),
                    target: meta.target(),
                    done,
                    error,
                    error_type,
                    fields,
                },
            );
        let (ms, outcome) = match done {
            Some((ms, o)) => (Some(ms), Some(o)),
            None => (None, None),
        };
        let err = error.map(tracing::field::display);
        use crate::completion::at;
        let mut values: [Option<&dyn Value>; at::LEN] = [None; at::LEN];
        values[at::EVENT] = Some(&name);
        values[at::DURATION_MS] = ms.as_ref().map(|v| v as &dyn Value);
        values[at::OUTCOME] = outcome.as_ref().map(|v| v as &dyn Value);
        values[at::ERROR] = err.as_ref().map(|v| v as &dyn Value);
        if !error_type.is_empty() {
            values[at::ERROR_TYPE] = Some(&error_type);
        }
        if !fields.is_empty() {
            values[at::FIELDS] = Some(&fields);
        }
        // The same values, typed, for observa's own log layer (it skips the visitor for them).
        let typed = crate::completion::Typed {
            meta: std::ptr::from_ref(meta) as usize,
            event: name,
            done,
            end,
            only: values[at::ERROR..].iter().all(Option::is_none),
            quiet: values[at::ERROR].is_none() && values[at::ERROR_TYPE].is_none(),
            keys: self.keys,
            head: Some(cs.head(which)),
        };
        // Recorded on the call's own span above: dispatched as a child of the call's `tracing`
        // span (for the layers that want it) or as an explicit root, so that no layer puts it on
        // an enclosing span (`tracing-opentelemetry` would), and marked so that observa's own
        // layer does not record it twice.
        #[cfg(feature = "otlp")]
        if recorded {
            let parent = self.span.and_then(Span::id);
            crate::trace::recorded(|| {
                crate::completion::with_typed(typed, fields, || {
                    tracing_core::Event::child_of(parent, meta, &fs.value_set_all(&values))
                })
            });
            return;
        }
        crate::completion::with_typed(typed, fields, || {
            tracing_core::Event::dispatch(meta, &fs.value_set_all(&values))
        });
    }
}

/// Records one of a call's lines on its own span, or on the own span it runs in; false when
/// there is neither (out of line, as [`Core::begin_own`]).
#[cfg(feature = "otlp")]
#[inline(never)]
fn record_event(
    own: &mut Option<Box<crate::trace::OwnSpan>>,
    e: crate::trace::CallEvent<'_>,
) -> bool {
    match own.as_deref_mut() {
        Some(o) => {
            o.event(e);
            true
        }
        None => crate::trace::event_on_innermost(e),
    }
}

/// The span of a call entered until this drops; the exit runs also while unwinding.
pub(super) struct Entered<'a>(pub(super) &'a mut Core);

impl std::ops::Deref for Entered<'_> {
    type Target = Core;
    fn deref(&self) -> &Core {
        self.0
    }
}

impl std::ops::DerefMut for Entered<'_> {
    fn deref_mut(&mut self) -> &mut Core {
        self.0
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let core = &mut *self.0;
            while_unwinding(|| core.exit());
        } else {
            self.0.exit();
        }
    }
}
