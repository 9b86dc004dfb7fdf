//! The call site: the one `static` per instrumented function that `__site!` declares
//! ([`Site`], built from [`SiteInfo`] and [`Opts`]), holding the `tracing` callsites of the span
//! and of the completion events, pointing into itself.

use super::metrics::SiteMetrics;
use crate::outcome::{ErrorClass, Outcome};
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use tracing::Level;
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::{Kind, Metadata};
use tracing_core::subscriber::Interest;

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

/// The static description of one instrumented function: one `static` per function, built by
/// `__site!` from plain data ([`SiteInfo`]). Its `tracing` callsites (the span, and the
/// completion events at the site's level, INFO, WARN and ERROR: the only levels a completion is
/// written at) are created on the site's first use ([`Callsites`]), not in the static: their
/// const evaluation at every instrumented function was about a tenth of what the attribute
/// cost `rustc` (BENCHMARKS.md, compile cost).
#[doc(hidden)]
pub struct Site {
    pub(super) info: SiteInfo,
    callsites: OnceLock<&'static Callsites>,
    pub(super) metrics: OnceLock<Option<SiteMetrics>>,
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site")
            .field("event", &self.info.event)
            .field("fields", &self.info.fields)
            .field("opts", &self.info.opts)
            .finish_non_exhaustive()
    }
}

/// The `tracing` callsites of one site, created once and leaked: a few hundred bytes per
/// instrumented function for the life of the process, as a `static` would hold them.
pub(super) struct Callsites {
    span: Cs,
    events: [Cs; 4],
    /// The recorded fields' keys as the `fields` JSON text writes them.
    keys: crate::completion::FieldKeys,
}

/// One `tracing` callsite created at run time, with [`DefaultCallsite`]'s registration and
/// interest cache. Its metadata cannot be built with it (the metadata's `FieldSet` names the
/// callsite, which must exist first): it is set once, right after the callsite is leaked and
/// before anything else can see it.
///
/// [`DefaultCallsite`]: tracing_core::callsite::DefaultCallsite
pub(super) struct Cs {
    meta: OnceLock<Metadata<'static>>,
    interest: AtomicU8,
    registration: AtomicU8,
    /// A place for the log layer's pre-rendered line head of this callsite's event under each
    /// of the site's names ([`crate::completion::HeadSlot`]; unused on the span's callsite).
    heads: [crate::completion::HeadSlot; 3],
}

const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;
const NEVER: u8 = 0;
const SOMETIMES: u8 = 1;
const ALWAYS: u8 = 2;
const UNKNOWN: u8 = 0xFF;

/// What [`Cs::meta`] answers before its metadata is set (never seen: a callsite is published
/// only once it has its metadata).
static UNSET: Metadata<'static> = Metadata::new(
    "observa.unset",
    "observa",
    Level::TRACE,
    None,
    None,
    None,
    FieldSet::new(&[], Identifier(&UNSET_CS)),
    Kind::EVENT,
);
static UNSET_CS: Cs = Cs::new();

impl Cs {
    const fn new() -> Cs {
        Cs {
            meta: OnceLock::new(),
            interest: AtomicU8::new(UNKNOWN),
            registration: AtomicU8::new(UNREGISTERED),
            heads: [
                crate::completion::HeadSlot::new(),
                crate::completion::HeadSlot::new(),
                crate::completion::HeadSlot::new(),
            ],
        }
    }

    /// The head slot of this callsite's event under the site's name `which`.
    #[inline]
    pub(super) fn head(&'static self, which: usize) -> &'static crate::completion::HeadSlot {
        &self.heads[which]
    }

    #[inline]
    pub(super) fn meta(&self) -> &Metadata<'static> {
        self.meta.get().unwrap_or(&UNSET)
    }

    /// The cached interest, registering the callsite on its first use (as
    /// `DefaultCallsite::interest` does: while it is being registered, on another thread or
    /// by a subscriber's `register_callsite` re-entering it, the answer is `sometimes`).
    #[inline]
    pub(super) fn interest(&'static self) -> Interest {
        match self.interest.load(Ordering::Relaxed) {
            NEVER => Interest::never(),
            SOMETIMES => Interest::sometimes(),
            ALWAYS => Interest::always(),
            _ => self.register(),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self) -> Interest {
        match self.registration.compare_exchange(
            UNREGISTERED,
            REGISTERING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                tracing_core::callsite::register(self);
                self.registration.store(REGISTERED, Ordering::Release);
            }
            Err(REGISTERED) => {}
            Err(_) => return Interest::sometimes(),
        }
        match self.interest.load(Ordering::Relaxed) {
            NEVER => Interest::never(),
            ALWAYS => Interest::always(),
            _ => Interest::sometimes(),
        }
    }
}

impl Callsite for Cs {
    fn set_interest(&self, interest: Interest) {
        let v = if interest.is_never() {
            NEVER
        } else if interest.is_always() {
            ALWAYS
        } else {
            SOMETIMES
        };
        self.interest.store(v, Ordering::SeqCst);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta()
    }
}

impl Site {
    /// Used by `__site!`: `static SITE: Site = Site::new(info);` (plain data: cheap to
    /// const-evaluate).
    pub const fn new(info: SiteInfo) -> Site {
        Site {
            info,
            callsites: OnceLock::new(),
            metrics: OnceLock::new(),
        }
    }

    /// The site's callsites, created on its first use.
    #[inline]
    pub(super) fn callsites(&'static self) -> &'static Callsites {
        match self.callsites.get() {
            Some(c) => c,
            None => self.create_callsites(),
        }
    }

    /// Creates and leaks the callsites, then gives each its metadata. No user code runs here:
    /// registration, which asks the subscribers, waits for each callsite's first
    /// [`Cs::interest`].
    #[cold]
    #[inline(never)]
    fn create_callsites(&'static self) -> &'static Callsites {
        let cs = self.make_callsites();
        // The first site to create its callsites registers every site's ([`register_all`]).
        register_all();
        cs
    }

    /// The callsites, created if need be, never registered here: what the layers' own
    /// `register_callsite` may ask for (`crate::trace::is_site_span`), while `tracing-core` holds
    /// its lock of run-time callsites.
    fn make_callsites(&'static self) -> &'static Callsites {
        self.callsites.get_or_init(|| {
            let info = &self.info;
            let levels = [info.opts.level, Level::INFO, Level::WARN, Level::ERROR];
            let cs: &'static Callsites = Box::leak(Box::new(Callsites {
                span: Cs::new(),
                events: [Cs::new(), Cs::new(), Cs::new(), Cs::new()],
                keys: crate::completion::FieldKeys::new(info.fields),
            }));
            let meta = |name, level, fields, cs: &'static Cs, kind| {
                Metadata::new(
                    name,
                    info.target,
                    level,
                    Some(info.file),
                    Some(info.line),
                    Some(info.module),
                    FieldSet::new(fields, Identifier(cs)),
                    kind,
                )
            };
            let span = meta(
                info.name,
                info.opts.level,
                info.span_fields,
                &cs.span,
                Kind::SPAN,
            );
            let _ = cs.span.meta.set(span);
            for (e, level) in cs.events.iter().zip(levels) {
                let m = meta(
                    crate::completion::COMPLETION,
                    level,
                    crate::completion::COMPLETION_FIELDS,
                    e,
                    Kind::EVENT,
                );
                let _ = e.meta.set(m);
            }
            cs
        })
    }

    /// Creates the site's callsites and registers them with `tracing` now (see
    /// [`register_all`]). An event callsite whose level is the site's own (slot 0 has it) is
    /// never used: it is not registered, so subscribers see only callsites that can fire.
    fn register(&'static self) {
        let cs = self.make_callsites();
        let _ = cs.span.interest();
        for (i, e) in cs.events.iter().enumerate() {
            if i == 0 || *e.meta().level() != self.info.opts.level {
                let _ = e.interest();
            }
        }
    }

    /// The recorded fields' keys, rendered ([`Callsites::keys`]).
    #[inline]
    pub(super) fn field_keys(&'static self) -> &'static crate::completion::FieldKeys {
        &self.callsites().keys
    }

    /// The span's callsite.
    #[inline]
    pub(super) fn span_cs(&'static self) -> &'static Cs {
        &self.callsites().span
    }

    /// The span's metadata.
    #[inline]
    pub(super) fn span_meta(&'static self) -> &'static Metadata<'static> {
        self.span_cs().meta()
    }

    /// The completion-event callsite at `level` (one of the site's level, INFO, WARN, ERROR).
    #[inline]
    pub(super) fn event_cs(&'static self, level: Level) -> &'static Cs {
        let i = if level == self.info.opts.level {
            0
        } else if level == Level::ERROR {
            3
        } else if level == Level::WARN {
            2
        } else {
            1
        };
        &self.callsites().events[i]
    }

    /// The event name (`sync_job`).
    pub fn event(&self) -> &'static str {
        self.info.event
    }

    /// The site's options (for the inventory: [`crate::slo`], [`crate::ops`]).
    pub(crate) fn opts(&self) -> &Opts {
        &self.info.opts
    }

    /// Names of the recorded fields.
    pub(crate) fn fields(&self) -> &'static [&'static str] {
        self.info.fields
    }

    /// The `tracing` target.
    pub(crate) fn target(&self) -> &'static str {
        self.info.target
    }

    /// Address of the span's metadata: what identifies an `#[observed]` span
    /// ([`crate::trace::is_site_span`]).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn span_meta_addr(&'static self) -> usize {
        std::ptr::from_ref(self.make_callsites().span.meta()) as usize
    }

    /// Addresses of the completion events' metadata ([`crate::trace::OwnSpan`]'s filter).
    #[cfg(feature = "otlp")]
    pub(crate) fn event_meta_addrs(&'static self) -> [usize; 4] {
        self.make_callsites()
            .events
            .each_ref()
            .map(|c| std::ptr::from_ref(c.meta()) as usize)
    }

    /// What the call's own span needs of the site ([`crate::trace::OwnSpan`]).
    #[cfg(feature = "otlp")]
    pub(super) fn own_view<'a>(
        &'static self,
        values: &'a [&'a dyn crate::record::Record],
    ) -> crate::trace::SiteView<'a> {
        let m = &self.info;
        crate::trace::SiteView {
            name: m.name,
            target: m.target,
            file: Some(m.file),
            line: Some(m.line),
            module: Some(m.module),
            fields: self.info.fields,
            values,
        }
    }
}

/// Registers the callsites of every site with `tracing`, once: when the first site creates its
/// callsites (before any of them is registered), or at `init`/`layer`, whichever comes first.
///
/// Why all at once: these callsites are registered through `tracing_core::callsite::register`,
/// which keeps run-time callsites behind a lock, and `tracing-core` holds that lock while it asks
/// every subscriber's `register_callsite` about each of them when a dispatcher is created. A site
/// registered lazily on its first call, from inside such a `register_callsite`, would wait on the
/// lock its own thread holds. Registered before any other is, no site registers later, on a call
/// (the one window left: a dispatcher created on another thread while the first registration
/// runs). A `register_callsite` that panics while `tracing-core` rebuilds interests poisons that
/// lock, which then fails every later registration of a run-time callsite, these included.
///
/// Not blocking: a subscriber's `register_callsite` that calls an `#[observed]` function while
/// this runs finds it started and goes on (that site registers on its first call as usual).
pub(crate) fn register_all() {
    static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    for site in crate::slo::sites() {
        site.register();
    }
}
