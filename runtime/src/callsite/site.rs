//! The call site: the one `static` per instrumented function that `__site!` declares
//! ([`Site`], built from [`SiteInfo`] and [`Opts`]), holding the `tracing` callsites of the span
//! and of the completion events, pointing into itself.

use super::metrics::SiteMetrics;
use crate::outcome::{ErrorClass, Outcome};
use std::fmt;
use std::sync::OnceLock;
use tracing::Level;
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
    pub(super) span_cs: DefaultCallsite,
    pub(super) span_meta: Metadata<'static>,
    pub(super) event_cs: [DefaultCallsite; 4],
    pub(super) event_meta: [Metadata<'static>; 4],
    pub(super) event: &'static str,
    pub(super) names: [&'static str; 3],
    pub(super) fields: &'static [&'static str],
    pub(super) opts: Opts,
    pub(super) metrics: OnceLock<Option<SiteMetrics>>,
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
    pub(super) fn event_cs(&'static self, level: Level) -> &'static DefaultCallsite {
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

    /// Address of the span's metadata: what identifies an `#[observed]` span
    /// ([`crate::trace::is_site_span`]).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn span_meta_addr(&'static self) -> usize {
        std::ptr::from_ref(&self.span_meta) as usize
    }

    /// Addresses of the completion events' metadata ([`crate::trace::OwnSpan`]'s filter).
    #[cfg(feature = "otlp")]
    pub(crate) fn event_meta_addrs(&'static self) -> [usize; 4] {
        self.event_meta
            .each_ref()
            .map(|m| std::ptr::from_ref(m) as usize)
    }

    /// What the call's own span needs of the site ([`crate::trace::OwnSpan`]).
    #[cfg(feature = "otlp")]
    pub(super) fn own_view<'a>(
        &'static self,
        values: &'a [&'a dyn crate::record::Record],
    ) -> crate::trace::SiteView<'a> {
        let m = &self.span_meta;
        crate::trace::SiteView {
            name: m.name(),
            target: m.target(),
            file: m.file(),
            line: m.line(),
            module: m.module_path(),
            fields: self.fields,
            values,
        }
    }
}
