//! Service level objectives and the inventory of call sites.
//!
//! Objectives come from two places:
//! - `#[observed(slo(success = 99.9, latency_ms = 250, percentile = 99, window = "30d"))]`,
//!   checked at compile time and stored in the call site's `static`;
//! - HTTP routes, through [`crate::http::RequestLayer::slo`] (or [`register_route`]).
//!
//! Every `#[observed]` call site registers itself with the runtime when the program starts
//! (the `inventory` crate: a constructor per site, run before `main`), so [`sites`] and
//! [`objectives`] know every instrumented function and its objective before it is first
//! called. The operations outputs ([`crate::ops`]) and the event catalogue are built from
//! this inventory.
//!
//! A latency objective is measured as the share of calls whose duration is at most the
//! threshold, read from the `le` bucket of the duration histogram: the threshold must be a
//! bucket bound. The macro refuses a threshold missing from explicit `buckets`; with the
//! default buckets the runtime adds every threshold of the family's objectives to the
//! family's buckets when the family is created (all are known by then).

use crate::callsite::Site;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// The family of the HTTP request counter.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// The family of the HTTP request duration histogram.
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
/// The family of the HTTP in-flight gauge.
pub const HTTP_IN_FLIGHT: &str = "http_requests_in_flight";

/// Seconds in a day.
const DAY: u64 = 86_400;

/// One objective: a success ratio, a latency threshold met by a share of calls, or both,
/// over a compliance window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// Percent of calls that must not end in a server error or a panic (HTTP: a 5xx).
    pub success: Option<f64>,
    /// Latency threshold in milliseconds.
    pub latency_ms: Option<u64>,
    /// Percent of calls that must finish within `latency_ms`.
    pub percentile: f64,
    /// The compliance window in seconds.
    pub window_secs: u64,
}

impl Objective {
    /// A success objective (`percent` of calls without a server error) over 30 days.
    pub const fn success(percent: f64) -> Objective {
        Objective {
            success: Some(percent),
            latency_ms: None,
            percentile: 99.0,
            window_secs: 30 * DAY,
        }
    }

    /// A latency objective (`percentile` percent of calls within `ms`) over 30 days.
    pub const fn latency(ms: u64, percentile: f64) -> Objective {
        Objective {
            success: None,
            latency_ms: Some(ms),
            percentile,
            window_secs: 30 * DAY,
        }
    }

    /// Adds a latency objective to this one.
    pub const fn with_latency(mut self, ms: u64, percentile: f64) -> Objective {
        self.latency_ms = Some(ms);
        self.percentile = percentile;
        self
    }

    /// Sets the compliance window, in days.
    pub const fn window_days(mut self, days: u64) -> Objective {
        self.window_secs = days * DAY;
        self
    }

    /// The same rules as the attribute: percentages in (0, 100), a threshold of 1 ms to 1 h,
    /// a window of 1 to 90 days, at least one objective.
    pub fn check(&self) -> Result<(), SloError> {
        let pct = |v: f64| v > 0.0 && v < 100.0;
        if self.success.is_none() && self.latency_ms.is_none() {
            return Err(SloError(
                "an objective needs `success` or `latency_ms`".into(),
            ));
        }
        if let Some(s) = self.success
            && !pct(s)
        {
            return Err(SloError(format!(
                "success {s} is not a percentage in (0, 100)"
            )));
        }
        if self.latency_ms.is_some() && !pct(self.percentile) {
            return Err(SloError(format!(
                "percentile {} is not a percentage in (0, 100)",
                self.percentile
            )));
        }
        if let Some(ms) = self.latency_ms
            && !(1..=3_600_000).contains(&ms)
        {
            return Err(SloError(format!("latency_ms {ms} is not in 1..=3600000")));
        }
        if !(DAY..=90 * DAY).contains(&self.window_secs) {
            return Err(SloError(format!(
                "window of {} seconds is not between 1d and 90d",
                self.window_secs
            )));
        }
        Ok(())
    }

    /// The latency threshold in seconds (the histogram bucket bound).
    pub fn latency_bound(&self) -> Option<f64> {
        self.latency_ms.map(|ms| ms as f64 / 1000.0)
    }

    /// The indicators this objective defines: success first, then latency.
    pub fn indicators(&self) -> Vec<Indicator> {
        let mut v = Vec::new();
        if let Some(s) = self.success {
            v.push(Indicator::Success { target: s / 100.0 });
        }
        if let Some(ms) = self.latency_ms {
            v.push(Indicator::Latency {
                ms,
                target: self.percentile / 100.0,
            });
        }
        v
    }
}

/// One measured ratio of an objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Indicator {
    /// Share of calls without a server error (or panic; HTTP: 5xx) at least `target`.
    Success {
        /// In (0, 1).
        target: f64,
    },
    /// Share of calls within `ms` at least `target`.
    Latency {
        /// Threshold in milliseconds.
        ms: u64,
        /// In (0, 1).
        target: f64,
    },
}

impl Indicator {
    /// `success` or `latency`: the `sli` label of the generated series.
    pub fn kind(&self) -> &'static str {
        match self {
            Indicator::Success { .. } => "success",
            Indicator::Latency { .. } => "latency",
        }
    }

    /// The target ratio, in (0, 1).
    pub fn target(&self) -> f64 {
        match *self {
            Indicator::Success { target } | Indicator::Latency { target, .. } => target,
        }
    }
}

/// A rejected objective.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SloError(String);

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SloError {}

/// What an objective is measured on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An `#[observed]` event, in the metric family prefix `family` (`observa_calls` or the
    /// `metric = "..."` override).
    Event {
        /// The event id.
        event: &'static str,
        /// The family prefix.
        family: &'static str,
    },
    /// An HTTP route template of the request layer's metrics.
    Route {
        /// The route template (`/orders/{id}`).
        route: String,
    },
}

/// An objective with what it is measured on.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// What it is measured on.
    pub target: Target,
    /// The objective.
    pub objective: Objective,
}

impl Slo {
    /// The `slo` label of the generated series: the event id, or `http <route>`.
    pub fn name(&self) -> String {
        match &self.target {
            Target::Event { event, .. } => (*event).to_owned(),
            Target::Route { route } => format!("http {route}"),
        }
    }
}

/// A registered call site (one per `#[observed]` function), submitted by `__site!`.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registered(pub &'static Site);

inventory::collect!(Registered);

/// Every `#[observed]` call site of the program, ordered by event id, whether or not it was
/// called.
pub fn sites() -> Vec<&'static Site> {
    let mut v: Vec<&'static Site> = inventory::iter::<Registered>
        .into_iter()
        .map(|r| r.0)
        .collect();
    v.sort_by(|a, b| a.event().cmp(b.event()));
    v.dedup_by(|a, b| std::ptr::eq(*a, *b));
    v
}

static ROUTES: Mutex<Vec<(String, Objective)>> = Mutex::new(Vec::new());

/// The HTTP histogram's buckets, once it exists.
static HTTP_BUCKETS: OnceLock<Vec<f64>> = OnceLock::new();

/// Declares the objective of an HTTP route template (what [`crate::http::RequestLayer::slo`]
/// calls); a later call for the same route replaces it. Refused: an invalid objective, and a
/// latency threshold that is not a bound of the HTTP histogram when that histogram already
/// exists (declare objectives before serving the first request).
pub fn register_route(route: &str, objective: Objective) -> Result<(), SloError> {
    objective.check()?;
    if let Some(b) = objective.latency_bound()
        && let Some(existing) = HTTP_BUCKETS.get()
        && !has_bound(existing, b)
    {
        return Err(SloError(format!(
            "latency {} ms is not a bucket bound of `{HTTP_DURATION}`, created before the objective was declared; declare objectives before the first request",
            objective.latency_ms.unwrap_or_default()
        )));
    }
    let mut routes = ROUTES.lock().unwrap_or_else(|e| e.into_inner());
    routes.retain(|(r, _)| r != route);
    routes.push((route.to_owned(), objective));
    Ok(())
}

/// Every objective known to the runtime: those of `#[observed]` sites, then HTTP routes.
pub fn objectives() -> Vec<Slo> {
    let mut out: Vec<Slo> = Vec::new();
    for s in sites() {
        let Some(objective) = s.opts().slo else {
            continue;
        };
        let target = Target::Event {
            event: s.event(),
            family: s.opts().metric,
        };
        if out.iter().any(|o| o.target == target) {
            continue;
        }
        out.push(Slo { target, objective });
    }
    let mut routes = ROUTES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(routes.into_iter().map(|(route, objective)| Slo {
        target: Target::Route { route },
        objective,
    }));
    out
}

fn has_bound(buckets: &[f64], b: f64) -> bool {
    buckets.iter().any(|v| (v - b).abs() < 1e-12)
}

/// `base` plus every bound of `extra`, sorted, without duplicates.
fn with_bounds(base: &[f64], extra: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v = base.to_vec();
    for b in extra {
        if !has_bound(&v, b) {
            v.push(b);
        }
    }
    v.sort_by(f64::total_cmp);
    v
}

/// The buckets of the duration histogram of family prefix `family`: `base` plus the latency
/// thresholds of every objective measured on that family.
pub(crate) fn event_buckets(family: &str, base: &[f64]) -> Vec<f64> {
    with_bounds(
        base,
        sites()
            .into_iter()
            .filter(|s| s.opts().metric == family)
            .filter_map(|s| s.opts().slo.and_then(|o| o.latency_bound())),
    )
}

/// The buckets of the HTTP duration histogram: `base` plus every route objective's threshold.
/// Called once, when the histogram is created; later objectives must use these bounds.
#[cfg(feature = "tower")]
pub(crate) fn http_buckets(base: &[f64]) -> Vec<f64> {
    let routes = ROUTES.lock().unwrap_or_else(|e| e.into_inner());
    let v = with_bounds(base, routes.iter().filter_map(|(_, o)| o.latency_bound()));
    HTTP_BUCKETS.get_or_init(|| v).clone()
}

/// `30d`, `4w`, `36h`, `90s`: a duration in the largest unit that divides it.
pub fn duration_text(secs: u64) -> String {
    for (unit, n) in [("w", 7 * DAY), ("d", DAY), ("h", 3_600), ("m", 60)] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_bad_objectives() {
        assert!(Objective::success(99.9).check().is_ok());
        assert!(Objective::success(100.0).check().is_err());
        assert!(Objective::success(0.0).check().is_err());
        assert!(Objective::latency(0, 99.0).check().is_err());
        assert!(Objective::latency(250, 100.0).check().is_err());
        assert!(Objective::success(99.0).window_days(91).check().is_err());
        assert!(Objective::success(99.0).window_days(7).check().is_ok());
    }

    #[test]
    fn bounds_are_added_once_and_sorted() {
        assert_eq!(
            with_bounds(&[0.1, 0.5], [0.3, 0.1, 0.3]),
            vec![0.1, 0.3, 0.5]
        );
    }

    #[test]
    fn durations_use_the_largest_unit() {
        assert_eq!(duration_text(30 * DAY), "30d");
        assert_eq!(duration_text(28 * DAY), "4w");
        assert_eq!(duration_text(300), "5m");
        assert_eq!(duration_text(840), "14m");
        assert_eq!(duration_text(90), "90s");
        assert_eq!(duration_text(3_600), "1h");
    }
}
