//! Call sites and calls: everything `#[observed]` does at run time.
//!
//! The macro expands to one `static` [`Site`] per function (through the runtime's
//! `__site!` macro: the `tracing` metadata of the span and of the completion events, the event
//! names, the recorded field names and the options) and to three calls: [`Call::start`] before
//! the body, the body itself, and [`Call::finish`] with the outcome. All logic lives here.
//!
//! Cost model: metric handles are resolved once per site and cached; the span is created only
//! when a subscriber wants it; recorded fields are rendered once, at start, only when a
//! completion event can be written; durations use `quanta` (TSC where available).

use crate::completion::{SPAN_HEAD, SPAN_TAIL};
use crate::context::{self, Context, Id, ScopeGuard};
use crate::encode::json::{self, DisplayValue};
use crate::outcome::{ErrorClass, ErrorView, Finish, Outcome};
use crate::record::{FieldValue, Record};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use tracing::field::Value;
use tracing::level_filters::LevelFilter;
use tracing::{Level, Span};
use tracing_core::Callsite;
use tracing_core::callsite::{DefaultCallsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::{Kind, Metadata};

/// Options of a site, from the attribute.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub struct Opts {
    /// Level of the span and of `<event>.completed`.
    pub level: Level,
    /// Metric family prefix: `<metric>_total`, `<metric>_duration_seconds`, `<metric>_in_flight`.
    pub metric: &'static str,
    /// `metrics = false` turns metrics off for the site.
    pub metrics: bool,
    /// Histogram buckets in seconds.
    pub buckets: &'static [f64],
    /// Fraction of successful completions that are logged (failures always are).
    pub sample: f64,
    /// Emit `<event>.started` too.
    pub started: bool,
    /// `err(client)` / `err(server)`: overrides the error class.
    pub class: Option<ErrorClass>,
    /// `slo(...)`: the objective measured on this site's metrics.
    pub slo: Option<crate::slo::Objective>,
    /// Declared types of the recorded fields (`expr` for expressions), for the catalogue.
    pub field_types: &'static [&'static str],
    /// `slow_ms = N`: a successful completion that took at least N ms is written at WARN
    /// (never sampled out) with `slow_threshold_ms`; 0 turns it off.
    pub slow_ms: u64,
    /// `labels(k = "v", ...)`: constant labels of the call counter and duration histogram. When
    /// given they replace the `event` label (the team's own shape, e.g.
    /// `worker_jobs_total{job_type,status}`).
    pub labels: &'static [(&'static str, &'static str)],
    /// `outcome_label = "status"`: the name of the counter's outcome label.
    pub outcome_label: &'static str,
    /// `outcomes(ok = "completed", failed = "failed")`: the outcome label's value per outcome,
    /// in [`Outcome::ALL`] order.
    pub outcomes: [&'static str; 5],
    /// `duration_metric = "worker_job_duration_seconds"`: the full name of the duration
    /// histogram (empty: `<metric>_duration_seconds`).
    pub duration_metric: &'static str,
}

impl Opts {
    /// The defaults.
    pub const DEFAULT: Opts = Opts {
        level: Level::INFO,
        metric: "observa_calls",
        metrics: true,
        buckets: crate::metrics::DEFAULT_BUCKETS,
        sample: 1.0,
        started: false,
        class: None,
        slo: None,
        field_types: &[],
        slow_ms: 0,
        labels: &[],
        outcome_label: "outcome",
        outcomes: [
            Outcome::ALL[0].as_str(),
            Outcome::ALL[1].as_str(),
            Outcome::ALL[2].as_str(),
            Outcome::ALL[3].as_str(),
            Outcome::ALL[4].as_str(),
        ],
        duration_metric: "",
    };
}

/// What `__site!` knows at compile time about one instrumented function.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct SiteInfo {
    /// Span name.
    pub name: &'static str,
    /// Event name (`sync_job`).
    pub event: &'static str,
    /// `tracing` target.
    pub target: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
    /// `module_path!()`.
    pub module: &'static str,
    /// Field names of the span: context ids, recorded fields, outcome, error, status.
    pub span_fields: &'static [&'static str],
    /// Names of the recorded fields.
    pub fields: &'static [&'static str],
    /// `<event>.completed`, `<event>.failed`, `<event>.started`.
    pub names: [&'static str; 3],
    /// Options.
    pub opts: Opts,
}

/// The static description of one instrumented function: one `static` per function, holding
/// the `tracing` callsites of its span and of its completion events (at the site's level, INFO,
/// WARN and ERROR: the only levels a completion is written at), which point into the same
/// static. One item instead of ten keeps the expansion cheap to compile.
#[doc(hidden)]
pub struct Site {
    span_cs: DefaultCallsite,
    span_meta: Metadata<'static>,
    event_cs: [DefaultCallsite; 4],
    event_meta: [Metadata<'static>; 4],
    event: &'static str,
    names: [&'static str; 3],
    fields: &'static [&'static str],
    opts: Opts,
    metrics: OnceLock<Option<SiteMetrics>>,
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site")
            .field("event", &self.event)
            .field("fields", &self.fields)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

struct SiteMetrics {
    calls: [prometheus::IntCounter; 5],
    duration: prometheus::Histogram,
    /// Calls started; `<family>_in_flight` is computed at scrape time as started minus the
    /// calls counted by outcome (one atomic add per call instead of an increment and a
    /// decrement).
    started: std::sync::atomic::AtomicU64,
}

const fn event_meta(
    this: &'static Site,
    i: usize,
    level: Level,
    info: &SiteInfo,
) -> Metadata<'static> {
    Metadata::new(
        crate::completion::COMPLETION,
        info.target,
        level,
        Some(info.file),
        Some(info.line),
        Some(info.module),
        FieldSet::new(
            crate::completion::COMPLETION_FIELDS,
            Identifier(&this.event_cs[i]),
        ),
        Kind::EVENT,
    )
}

impl Site {
    /// Used by `__site!`: `static SITE: Site = Site::new(&SITE, info);`.
    pub const fn new(this: &'static Site, info: SiteInfo) -> Site {
        Site {
            span_cs: DefaultCallsite::new(&this.span_meta),
            span_meta: Metadata::new(
                info.name,
                info.target,
                info.opts.level,
                Some(info.file),
                Some(info.line),
                Some(info.module),
                FieldSet::new(info.span_fields, Identifier(&this.span_cs)),
                Kind::SPAN,
            ),
            event_cs: [
                DefaultCallsite::new(&this.event_meta[0]),
                DefaultCallsite::new(&this.event_meta[1]),
                DefaultCallsite::new(&this.event_meta[2]),
                DefaultCallsite::new(&this.event_meta[3]),
            ],
            event_meta: [
                event_meta(this, 0, info.opts.level, &info),
                event_meta(this, 1, Level::INFO, &info),
                event_meta(this, 2, Level::WARN, &info),
                event_meta(this, 3, Level::ERROR, &info),
            ],
            event: info.event,
            names: info.names,
            fields: info.fields,
            opts: info.opts,
            metrics: OnceLock::new(),
        }
    }

    /// The completion-event callsite at `level` (one of the site's level, INFO, WARN, ERROR).
    #[inline]
    fn event_cs(&'static self, level: Level) -> &'static DefaultCallsite {
        let i = if level == self.opts.level {
            0
        } else if level == Level::ERROR {
            3
        } else if level == Level::WARN {
            2
        } else {
            1
        };
        &self.event_cs[i]
    }

    /// The event name (`sync_job`).
    pub fn event(&self) -> &'static str {
        self.event
    }

    /// The site's options (for the inventory: [`crate::slo`], [`crate::ops`]).
    pub(crate) fn opts(&self) -> &Opts {
        &self.opts
    }

    /// Names of the recorded fields.
    pub(crate) fn fields(&self) -> &'static [&'static str] {
        self.fields
    }

    /// The `tracing` target.
    pub(crate) fn target(&self) -> &'static str {
        self.span_meta.target()
    }

    fn metrics(&'static self) -> Option<&'static SiteMetrics> {
        if !self.opts.metrics {
            return None;
        }
        self.metrics
            .get_or_init(|| {
                let o = &self.opts;
                let m = o.metric;
                // The label names and values of both families: `event` (default) or the
                // constant `labels(...)`.
                let (mut names, mut values): (Vec<&str>, Vec<&str>) = if o.labels.is_empty() {
                    (vec!["event"], vec![self.event])
                } else {
                    o.labels.iter().copied().unzip()
                };
                let duration_name = if o.duration_metric.is_empty() {
                    format!("{m}_duration_seconds")
                } else {
                    o.duration_metric.to_owned()
                };
                let duration = crate::metrics::HistogramFamily::new(
                    &duration_name,
                    "Duration of instrumented functions in seconds",
                    &names,
                    &crate::slo::event_buckets(m, o.buckets),
                )
                .map(|d| d.get(&values));
                names.push(o.outcome_label);
                let calls = crate::metrics::CounterFamily::new(
                    &format!("{m}_total"),
                    "Calls of instrumented functions, by outcome",
                    &names,
                )
                .map(|c| {
                    Outcome::ALL.map(|out| {
                        values.push(o.outcomes[out.index()]);
                        let h = c.get(&values);
                        values.pop();
                        h
                    })
                });
                let in_flight = crate::metrics::computed_gauge(
                    &format!("{m}_in_flight"),
                    "Calls of instrumented functions in progress, by event",
                    "event",
                );
                match (calls, duration, in_flight) {
                    (Ok(c), Ok(d), Ok(g)) => {
                        let this: &'static Site = self;
                        // Read at scrape time, when this `OnceLock` is set.
                        g.add(
                            self.event,
                            Box::new(move || match this.metrics.get() {
                                Some(Some(m)) => {
                                    let started = m.started.load(Ordering::Relaxed) as i64;
                                    // Outcomes mapped to one label value share a series:
                                    // count each series once.
                                    let done: i64 = m
                                        .calls
                                        .iter()
                                        .enumerate()
                                        .filter(|(i, _)| {
                                            !this.opts.outcomes[..*i]
                                                .contains(&this.opts.outcomes[*i])
                                        })
                                        .map(|(_, c)| c.get() as i64)
                                        .sum();
                                    started - done
                                }
                                _ => 0,
                            }),
                        );
                        Some(SiteMetrics {
                            calls: c,
                            duration: d,
                            started: AtomicU64::new(0),
                        })
                    }
                    (c, d, g) => {
                        let err = c.err().or(d.err()).or(g.err());
                        if let Some(e) = err {
                            tracing::error!(
                                target: "observa",
                                event = "observa.metrics_error",
                                error = %e,
                                site = self.event,
                                "metrics disabled for this call site"
                            );
                        }
                        None
                    }
                }
            })
            .as_ref()
    }
}

/// The monotonic clock of durations: `quanta` (TSC where available, calibrated once).
#[inline]
fn clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::LazyLock<quanta::Clock> = std::sync::LazyLock::new(quanta::Clock::new);
    &CLOCK
}

/// Is a callsite enabled for the current subscriber? (What `tracing`'s macros check.)
#[inline]
fn enabled(cs: &'static DefaultCallsite) -> bool {
    let meta = cs.metadata();
    if *meta.level() > LevelFilter::current() {
        return false;
    }
    let interest = cs.interest();
    if interest.is_never() {
        return false;
    }
    interest.is_always() || tracing::dispatcher::get_default(|d| d.enabled(meta))
}

/// What the attribute binds into the context for the call.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
#[derive(Clone, Copy, Default)]
pub struct Bind<'a> {
    /// `tenant`
    pub tenant: Option<&'a dyn fmt::Display>,
    /// `user`
    pub user: Option<&'a dyn fmt::Display>,
    /// `correlation`
    pub correlation: Option<&'a dyn fmt::Display>,
    /// `bind(name, name = expr, ...)`: named values bound for the call.
    pub fields: &'a [(&'static str, &'a dyn fmt::Display)],
}

impl Bind<'_> {
    /// Binds nothing.
    pub const NONE: Bind<'static> = Bind {
        tenant: None,
        user: None,
        correlation: None,
        fields: &[],
    };

    fn is_empty(&self) -> bool {
        self.tenant.is_none()
            && self.user.is_none()
            && self.correlation.is_none()
            && self.fields.is_empty()
    }
}

/// The context a call runs in: the caller's plus what the attribute binds. `None` when the call
/// changes nothing (the common nested case: no swap at all).
fn call_context(bind: &Bind<'_>) -> Option<Context> {
    if bind.is_empty() {
        if context::has_correlation() {
            return None;
        }
        let mut c = context::current_raw();
        c.set_correlation_pending();
        return Some(c);
    }
    let mut c = context::current();
    if let Some(t) = bind.tenant {
        c.set_tenant(Id::from_display(t));
    }
    if let Some(u) = bind.user {
        c.set_user(Id::from_display(u));
    }
    if let Some(k) = bind.correlation {
        c.set_correlation(Id::from_display(k));
    }
    for (name, v) in bind.fields {
        let r = c.set_field(name, *v);
        context::report(name, r);
    }
    if !c.has_correlation() {
        c.set_correlation_pending();
    }
    Some(c)
}

/// Runs subscriber code while the thread unwinds (the failed event, span exit and close): a
/// second panic there would abort the process, so it is caught and dropped.
fn while_unwinding(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        // Dropping a payload can itself panic; keep it from unwinding through a destructor.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// The panic outcome of a call.
const PANICKED: Finish<'static> = Finish {
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
struct Core {
    site: &'static Site,
    metrics: Option<&'static SiteMetrics>,
    /// Raw clock reading (TSC ticks where available); scaled once, at finish.
    start: u64,
    span: Span,
    fields: Vec<u8>,
    /// No outcome is owed (idle, or already recorded).
    done: bool,
    /// `begin` ran to the end (an async call dropped before that panicked while starting).
    begun: bool,
    /// The span is entered on this thread: `exit` is owed.
    entered: bool,
    /// Resource use (`crate::resource`), measured over the body's polls when on.
    meter: crate::resource::Meter,
}

impl Drop for Core {
    fn drop(&mut self) {
        // Closing the span runs subscriber code: never let it panic while unwinding.
        if std::thread::panicking() && !self.span.is_disabled() {
            let span = std::mem::replace(&mut self.span, Span::none());
            while_unwinding(move || drop(span));
        }
    }
}

impl Core {
    /// A call that has not started: owes nothing.
    #[inline]
    fn idle(site: &'static Site) -> Core {
        Core {
            site,
            metrics: None,
            start: 0,
            span: Span::none(),
            fields: Vec::new(),
            done: true,
            begun: false,
            entered: false,
            meter: crate::resource::Meter::OFF,
        }
    }

    /// Counts the call as started, then creates its span and renders its fields (user code).
    #[inline]
    fn begin(&mut self, ctx: Option<&mut Context>, values: &[&dyn Record]) {
        let site = self.site;
        let metrics = site.metrics();
        if let Some(m) = metrics {
            m.started.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics = metrics;
        self.start = clock().raw();
        self.done = false;
        self.span = if enabled(&site.span_cs) {
            #[cfg(feature = "otlp")]
            {
                // A root span inside a context that continues a remote trace adopts it.
                let remote = crate::trace::active() && Span::current().is_none();
                let tp = if remote {
                    match &ctx {
                        Some(c) => c.traceparent().map(str::to_owned),
                        None => context::with_current(|c| c.traceparent().map(str::to_owned)),
                    }
                } else {
                    None
                };
                let span = new_span(site, ctx, values);
                if let Some(tp) = tp {
                    crate::trace::adopt_remote_parent(&span, &tp);
                }
                span
            }
            #[cfg(not(feature = "otlp"))]
            new_span(site, ctx, values)
        } else {
            Span::none()
        };
        // Rendered aside: a `Record` that panics halfway leaves no half-written JSON behind.
        let mut fields = Vec::new();
        if !values.is_empty() && enabled(site.event_cs(Level::ERROR)) {
            fields.reserve(16 * values.len() + 2);
            fields.push(b'{');
            for (i, (name, v)) in site.fields.iter().zip(values).enumerate() {
                if i > 0 {
                    fields.push(b',');
                }
                json::write_str(&mut fields, name, 128);
                fields.push(b':');
                json::write_field_value(&mut fields, v.record());
            }
            fields.push(b'}');
        }
        self.fields = fields;
        // The duration covers the body only, as before: span creation and rendering excluded.
        self.start = clock().raw();
        self.meter = crate::resource::Meter::for_call();
        self.begun = true;
    }

    /// `<event>.started` (the attribute's `started`). Written once the call's context is
    /// installed, so the line carries the call's tenant, correlation id and bound fields.
    fn started(&self) {
        if self.site.opts.started {
            self.emit(self.site.opts.level, self.site.names[2], None, None, "");
        }
    }

    /// Adds the `return` field (the attribute's `ret`).
    fn ret(&mut self, v: Option<&dyn Record>) {
        let Some(v) = v else { return };
        if !enabled(self.site.event_cs(self.site.opts.level)) {
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
    fn enter(&mut self) {
        self.span.with_subscriber(|(id, d)| d.enter(id));
        self.entered = true;
    }

    fn exit(&mut self) {
        if std::mem::take(&mut self.entered) {
            self.span.with_subscriber(|(id, d)| d.exit(id));
        }
    }

    /// Enters the span until the returned guard drops (also while unwinding).
    fn entered(&mut self) -> Entered<'_> {
        let e = Entered(self);
        e.0.enter();
        e
    }

    /// Records a panic: the message and, when asked for, a bounded backtrace (in the completion
    /// event's fields) from [`crate::failure`].
    fn finish_panic(&mut self) {
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

    /// Records the outcome: metrics, span status, completion event. Idempotent.
    #[inline]
    fn finish(&mut self, f: Finish<'_>) {
        if self.done {
            return;
        }
        let f = f.with_class(self.site.opts.class);
        self.done = true;
        self.meter.pause();
        let c = clock();
        let secs = c.delta_as_nanos(self.start, c.raw()) as f64 * 1e-9;
        let site = self.site;
        if let Some(m) = self.metrics {
            m.calls[f.outcome.index()].inc();
            m.duration.observe(secs);
        }
        if let Some(u) = self.meter.usage() {
            crate::resource::observe(false, &[site.event], &u);
            crate::resource::write_fields(&mut self.fields, &u);
        }
        if !self.span.is_disabled() {
            // One `record` for the trailing fields (outcome, error, status, by position: see
            // `crate::completion`), instead of a lookup and a dispatch per field.
            use crate::completion::SPAN_TAIL;
            let fs = site.span_meta.fields();
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
                self.span.record_all(&fs.value_set_all(&vals[..n]));
            } else {
                self.span.record("outcome", outcome);
                if failed {
                    self.span.record("otel.status_code", "ERROR");
                    if let Some(e) = err {
                        self.span.record("error", e);
                    }
                }
            }
        }
        let slow = site.opts.slow_ms > 0 && secs * 1e3 >= site.opts.slow_ms as f64;
        let (level, name) = match f.outcome {
            Outcome::Ok if slow => {
                crate::lifecycle::slow::mark(&mut self.fields, site.opts.slow_ms);
                (Level::WARN, site.names[0])
            }
            Outcome::Ok => {
                if site.opts.sample < 1.0 && crate::encode::rand::unit_f64() >= site.opts.sample {
                    return;
                }
                (site.opts.level, site.names[0])
            }
            Outcome::ClientError => (Level::INFO, site.names[1]),
            Outcome::Cancelled => (Level::WARN, site.names[1]),
            Outcome::ServerError | Outcome::Panic => (Level::ERROR, site.names[1]),
        };
        // Checked here too so a filtered-out completion costs nothing more.
        if !enabled(site.event_cs(level)) {
            return;
        }
        let ms = secs * 1e3;
        self.emit(
            level,
            name,
            Some((ms, f.outcome.as_str())),
            f.error,
            f.error_type,
        );
    }

    fn emit(
        &self,
        level: Level,
        name: &str,
        done: Option<(f64, &str)>,
        error: Option<ErrorView<'_>>,
        error_type: &str,
    ) {
        let cs = self.site.event_cs(level);
        if !enabled(cs) {
            return;
        }
        let meta = cs.metadata();
        let fs = meta.fields();
        let fields = std::str::from_utf8(&self.fields).unwrap_or_default();
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
        crate::completion::with_trusted_fields(fields, || {
            tracing_core::Event::dispatch(meta, &fs.value_set_all(&values))
        });
    }
}

fn new_span(site: &'static Site, ctx: Option<&mut Context>, values: &[&dyn Record]) -> Span {
    // The span carries the context: materialise the correlation id it owes. The current one is
    // read in place (no copy of the context).
    match ctx {
        Some(c) => {
            c.materialize_pending();
            new_span_in(site, c, values)
        }
        None => context::with_current(|c| new_span_in(site, c, values)),
    }
}

fn new_span_in(site: &'static Site, ctx: &Context, values: &[&dyn Record]) -> Span {
    let meta = &site.span_meta;
    let fs = meta.fields();
    let corr = ctx.correlation_id();
    let tenant = ctx.tenant_id();
    let user = ctx.user_id();
    let ids: [Option<&dyn Value>; SPAN_HEAD] = [
        corr.as_ref().map(|v| v as &dyn Value),
        tenant.as_ref().map(|v| v as &dyn Value),
        user.as_ref().map(|v| v as &dyn Value),
    ];
    // Up to `INLINE` recorded fields on the stack; more (rare) in a `Vec`.
    const INLINE: usize = 8;
    if values.len() <= INLINE {
        let mut shown: [Option<SpanValue<'_>>; INLINE] = [const { None }; INLINE];
        for (slot, v) in shown.iter_mut().zip(values) {
            *slot = Some(SpanValue::of(v.record()));
        }
        const EXTRA: usize = SPAN_HEAD + SPAN_TAIL;
        let mut vals: [Option<&dyn Value>; INLINE + EXTRA] = [None; INLINE + EXTRA];
        vals[..SPAN_HEAD].copy_from_slice(&ids);
        for (slot, v) in vals[SPAN_HEAD..].iter_mut().zip(shown.iter().flatten()) {
            *slot = Some(v.as_value());
        }
        let span = Span::new(meta, &fs.value_set_all(&vals[..EXTRA + values.len()]));
        bound_attributes(&span, ctx);
        return span;
    }
    let shown: Vec<SpanValue<'_>> = values.iter().map(|v| SpanValue::of(v.record())).collect();
    let mut vals: Vec<Option<&dyn Value>> =
        Vec::with_capacity(SPAN_HEAD + SPAN_TAIL + values.len());
    vals.extend(ids);
    for v in &shown {
        vals.push(Some(v.as_value()));
    }
    vals.extend([None; SPAN_TAIL]);
    let span = Span::new(meta, &fs.value_set_all(&vals));
    bound_attributes(&span, ctx);
    span
}

/// The bound named values of `ctx` as attributes of an exported span (the exporter masks
/// sensitive keys like every other attribute).
#[cfg(feature = "otlp")]
fn bound_attributes(span: &Span, ctx: &Context) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if span.is_disabled() || !crate::trace::active() {
        return;
    }
    for (k, v) in ctx.fields() {
        span.set_attribute(k.to_owned(), v.to_owned());
    }
}

#[cfg(not(feature = "otlp"))]
fn bound_attributes(_span: &Span, _ctx: &Context) {}

/// A recorded value as a span attribute: native scalars, everything else as text/JSON.
enum SpanValue<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Text(tracing::field::DisplayValue<DisplayValue<'a>>),
}

impl<'a> SpanValue<'a> {
    fn of(v: FieldValue<'a>) -> SpanValue<'a> {
        match v {
            FieldValue::Bool(b) => SpanValue::Bool(b),
            FieldValue::I64(i) => SpanValue::I64(i),
            FieldValue::U64(u) => SpanValue::U64(u),
            FieldValue::F64(f) => SpanValue::F64(f),
            v => SpanValue::Text(tracing::field::display(DisplayValue(v))),
        }
    }

    fn as_value(&self) -> &dyn Value {
        match self {
            SpanValue::Bool(b) => b,
            SpanValue::I64(i) => i,
            SpanValue::U64(u) => u,
            SpanValue::F64(f) => f,
            SpanValue::Text(t) => t,
        }
    }
}

/// The span of a call entered until this drops; the exit runs also while unwinding.
struct Entered<'a>(&'a mut Core);

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

/// A synchronous call in progress. Installs its context and enters its span on creation;
/// records the outcome in [`Call::finish`], or `panic` when dropped while unwinding.
///
/// Isolation: the call is built idle before any user code runs, and each change to the thread
/// (the owed correlation id of the fast path, an installed context, an entered span, the
/// started count) is recorded in it as it is made, so dropping it, normally or while unwinding
/// out of `start`, the body or `finish`, undoes exactly what was done.
#[doc(hidden)]
pub struct Call {
    // Declared first, so dropped before the span closes: the context is restored first.
    scope: Scope,
    core: Core,
}

/// How a sync call changed the context: not at all, in place (see [`context::enter_fresh`]), or
/// by installing its own. Each variant undoes its change when dropped.
#[allow(clippy::large_enum_variant)] // on the stack only; boxing would allocate per call
enum Scope {
    Same,
    Fresh(FreshGuard),
    Installed(#[allow(dead_code)] ScopeGuard),
}

/// Ends a call entered on the fast path ([`context::exit_fresh`]) on drop, also while unwinding.
struct FreshGuard;

impl Drop for FreshGuard {
    #[inline]
    fn drop(&mut self) {
        context::exit_fresh();
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("site", &self.core.site.event)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// Starts a synchronous call.
    #[inline]
    pub fn start(site: &'static Site, bind: Bind<'_>, values: &[&dyn Record]) -> Call {
        let mut call = Call {
            scope: Scope::Same,
            core: Core::idle(site),
        };
        // The common top-level call: nothing bound, empty context. `started` writes a line
        // with the call's context, so it takes the general path (the context installed).
        if bind.is_empty() && !site.opts.started && context::enter_fresh() {
            call.scope = Scope::Fresh(FreshGuard);
            call.core.begin(None, values);
        } else {
            // Formats the bound values (user code): nothing to undo yet if it panics.
            let mut ctx = call_context(&bind);
            call.core.begin(ctx.as_mut(), values);
            if let Some(c) = ctx {
                call.scope = Scope::Installed(ScopeGuard::install(c));
            }
        }
        call.core.meter.resume(false);
        call.core.enter();
        call.core.started();
        call
    }

    /// Records the outcome of a returned value.
    #[inline]
    pub fn finish(mut self, f: Finish<'_>) {
        self.core.finish(f);
    }

    /// Records the return value in the completion event (`ret`).
    pub fn ret(&mut self, v: Option<&dyn Record>) {
        self.core.ret(v);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let core = &mut self.core;
        if std::thread::panicking() {
            // Each step on its own: a subscriber that panics on the event still gets the exit.
            while_unwinding(|| {
                if !core.done {
                    core.finish_panic();
                }
            });
            while_unwinding(|| core.exit());
        } else {
            let mut core = Entered(core);
            if !core.done {
                // Not reachable from generated code; keep the books balanced anyway.
                core.finish(Finish::OK);
            }
        }
        // Then `scope` restores the context (its own drop, also if the above panicked).
    }
}

/// An async call in progress. Its context is installed and its span entered around every poll
/// of the body ([`AsyncCall::bind`]); dropped before [`AsyncCall::finish`] it records
/// `cancelled`, and a panic inside a poll (or while the call starts) records `panic`. Nothing
/// it installs outlives a poll, also when the poll unwinds.
#[doc(hidden)]
pub struct AsyncCall {
    core: Core,
    ctx: Option<Context>,
}

impl fmt::Debug for AsyncCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCall")
            .field("site", &self.core.site.event)
            .finish_non_exhaustive()
    }
}

impl AsyncCall {
    /// Starts an async call (at the first poll of the instrumented future).
    #[inline]
    pub fn start(site: &'static Site, bind: Bind<'_>, values: &[&dyn Record]) -> AsyncCall {
        let mut call = AsyncCall {
            core: Core::idle(site),
            ctx: None,
        };
        call.ctx = call_context(&bind);
        call.core.begin(call.ctx.as_mut(), values);
        if site.opts.started {
            // Inside the call's context and span, as a poll is.
            let scope = call.ctx.take().map(ScopeGuard::install);
            let mut guard = PollGuard {
                call: &mut call,
                scope,
                returned: false,
            };
            guard.call.core.enter();
            guard.call.core.started();
            guard.returned = true;
        }
        call
    }

    /// Runs the code of a function that returns a future (the part before the future is
    /// polled) inside this call: its context installed and its span entered, as for a poll.
    #[inline]
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let scope = self.ctx.take().map(ScopeGuard::install);
        let mut guard = PollGuard {
            call: self,
            scope,
            returned: false,
        };
        guard.call.core.enter();
        let out = f();
        guard.returned = true;
        out
    }

    /// Runs `fut` inside this call.
    #[inline]
    pub fn bind<F: Future>(&mut self, fut: F) -> Bound<'_, F> {
        Bound { call: self, fut }
    }

    /// Records the return value in the completion event (`ret`).
    pub fn ret(&mut self, v: Option<&dyn Record>) {
        self.core.ret(v);
    }

    /// Records the outcome of the returned value.
    #[inline]
    pub fn finish(mut self, f: Finish<'_>) {
        let _scope = self.ctx.take().map(ScopeGuard::install);
        self.core.entered().finish(f);
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        if self.core.done {
            return;
        }
        let f = if self.core.begun {
            Finish {
                outcome: Outcome::Cancelled,
                error: Some(ErrorView::Message("cancelled before completion")),
                error_type: "cancelled",
            }
        } else {
            // Unwinding out of `start`.
            PANICKED
        };
        let _scope = self.ctx.take().map(ScopeGuard::install);
        let core = &mut self.core;
        if std::thread::panicking() {
            while_unwinding(|| core.entered().finish(f));
        } else {
            core.entered().finish(f);
        }
    }
}

pin_project_lite::pin_project! {
    /// The body of an async call, run inside the call's context and span.
    #[doc(hidden)]
    pub struct Bound<'a, F> {
        call: &'a mut AsyncCall,
        #[pin]
        fut: F,
    }
}

impl<F> fmt::Debug for Bound<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound").finish_non_exhaustive()
    }
}

/// One poll of an async call's body: the context installed and the span entered, both undone
/// on drop (also while unwinding, recording `panic` then).
struct PollGuard<'a> {
    call: &'a mut AsyncCall,
    scope: Option<ScopeGuard>,
    /// The poll returned: dropped without it, the poll is unwinding.
    returned: bool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let core = &mut self.call.core;
        core.meter.pause();
        if !self.returned {
            while_unwinding(|| {
                if !core.done {
                    core.finish_panic();
                }
            });
            while_unwinding(|| core.exit());
        } else {
            core.exit();
        }
        if let Some(scope) = self.scope.take() {
            self.call.ctx = Some(scope.restore());
        }
    }
}

impl<F: Future> Future for Bound<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let scope = this.call.ctx.take().map(ScopeGuard::install);
        let mut guard = PollGuard {
            call: this.call,
            scope,
            returned: false,
        };
        guard.call.core.enter();
        guard.call.core.meter.resume(false);
        let out = this.fut.poll(cx);
        guard.returned = true;
        out
    }
}

/// Functions that return a future without being `async fn`.
///
/// `impl Future<Output = T>` and a spelled-out `Pin<Box<dyn Future<Output = T> + ..>>` are
/// recognised by the macro, which wraps the returned future. A type alias (`BoxFuture<'a, T>`)
/// hides the future from the macro: with `#[observed(future)]` it is wrapped like the spelled-out
/// form ([`box_future`]); without it, a function instrumented as synchronous whose return value
/// is a boxed `dyn Future` fails to compile ([`not_a_boxed_future`]), since its duration and
/// outcome would be those of creating the future, not of running it. Other named future types
/// (`JoinHandle`, `Ready`) are values of their own: instrumented as synchronous calls.
mod returned {
    use super::*;

    /// Wraps the return value of a synchronous call for the autoref probe below.
    #[doc(hidden)]
    #[allow(missing_debug_implementations)]
    pub struct SyncCheck<'a, T: ?Sized>(pub &'a T);

    /// The return value of a sync-shaped function is a boxed `dyn Future`.
    #[doc(hidden)]
    #[allow(missing_debug_implementations)]
    pub struct BoxedFuture;

    /// Anything else.
    #[doc(hidden)]
    #[allow(missing_debug_implementations)]
    pub struct NotAFuture;

    #[doc(hidden)]
    pub trait SyncViaBoxed {
        fn __observa_sync(&self) -> BoxedFuture;
    }

    macro_rules! boxed_dyn {
        ($($bounds:tt)*) => {
            impl<'a, 'b, O> SyncViaBoxed for SyncCheck<'a, Pin<Box<dyn Future<Output = O> $($bounds)* + 'b>>> {
                #[inline]
                fn __observa_sync(&self) -> BoxedFuture {
                    BoxedFuture
                }
            }
        };
    }
    boxed_dyn!();
    boxed_dyn!(+ Send);
    boxed_dyn!(+ Send + Sync);

    #[doc(hidden)]
    pub trait SyncViaAny {
        fn __observa_sync(&self) -> NotAFuture;
    }

    impl<T: ?Sized> SyncViaAny for &SyncCheck<'_, T> {
        #[inline]
        fn __observa_sync(&self) -> NotAFuture {
            NotAFuture
        }
    }

    /// The bound a synchronous call's return value passes unless it is a boxed future.
    #[doc(hidden)]
    #[diagnostic::on_unimplemented(
        message = "`#[observed]` cannot see that this function returns a future: it would time the creation of the future, not its work",
        label = "a boxed future behind a type alias",
        note = "write `#[observed(future)]` to instrument the returned future"
    )]
    pub trait SyncReturn {}

    impl SyncReturn for NotAFuture {}

    /// Compile-time check of a synchronous call's return value (nothing runs).
    #[doc(hidden)]
    #[inline(always)]
    pub fn not_a_boxed_future<S: SyncReturn>(_: S) {}

    /// A future boxed into the declared return type of an `#[observed(future)]` function.
    #[doc(hidden)]
    #[diagnostic::on_unimplemented(
        message = "`#[observed(future)]` needs a function that returns a boxed future, not `{Self}`",
        label = "not `Pin<Box<dyn Future<Output = _> + Send + '_>>`",
        note = "`future` is for a type alias of a boxed future such as `BoxFuture<'a, T>`; remove it to instrument the call as synchronous"
    )]
    pub trait FromFuture<F> {
        fn from_future(f: F) -> Self;
    }

    impl<'a, F: Future + 'a> FromFuture<F> for Pin<Box<dyn Future<Output = F::Output> + 'a>> {
        #[inline]
        fn from_future(f: F) -> Self {
            Box::pin(f)
        }
    }

    impl<'a, F: Future + Send + 'a> FromFuture<F>
        for Pin<Box<dyn Future<Output = F::Output> + Send + 'a>>
    {
        #[inline]
        fn from_future(f: F) -> Self {
            Box::pin(f)
        }
    }

    impl<'a, F: Future + Send + Sync + 'a> FromFuture<F>
        for Pin<Box<dyn Future<Output = F::Output> + Send + Sync + 'a>>
    {
        #[inline]
        fn from_future(f: F) -> Self {
            Box::pin(f)
        }
    }

    /// Boxes an instrumented future into the declared (boxed) return type.
    #[doc(hidden)]
    #[inline]
    pub fn box_future<R: FromFuture<F>, F>(f: F) -> R {
        R::from_future(f)
    }

    /// An instrumented future for an `impl Future + Unpin` return type.
    #[doc(hidden)]
    #[inline]
    pub fn pinned<F: Future>(f: F) -> Pin<Box<F>> {
        Box::pin(f)
    }
}

pub use returned::{SyncCheck, SyncViaAny, SyncViaBoxed, box_future, not_a_boxed_future, pinned};

/// `fields(...)` value for a name decided sensitive at compile time.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Masked;

impl Record for Masked {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Redacted
    }
}

/// Picks the value or the mask at compile time (`SENSITIVE` is a `const` computed by
/// [`crate::sensitive::is_sensitive`] on the field name). The value must be recordable either way.
#[doc(hidden)]
#[inline(always)]
pub fn field<const SENSITIVE: bool, T: Record>(v: &T) -> &dyn Record {
    if SENSITIVE { &Masked } else { v }
}

/// `ret` on a function returning `Result<T, _>`: the `Ok` value.
#[doc(hidden)]
pub fn ret_ok<T: Record, E>(r: &Result<T, E>) -> Option<&dyn Record> {
    r.as_ref().ok().map(|v| v as &dyn Record)
}

/// `ret` on any other function.
#[doc(hidden)]
pub fn ret_plain<T: Record>(r: &T) -> Option<&dyn Record> {
    Some(r)
}

/// A value of `bind(...)`: itself, or `[REDACTED]` (never formatted) when its name or
/// expression is sensitive.
#[doc(hidden)]
pub fn bound_value<const SENSITIVE: bool, T: fmt::Display>(v: &T) -> &dyn fmt::Display {
    if SENSITIVE {
        &crate::record::REDACTED
    } else {
        v
    }
}
