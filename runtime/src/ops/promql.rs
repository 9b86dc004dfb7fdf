//! PromQL text of the indicators: one owner for every selector and ratio that the rules, the
//! dashboard and the runbooks show.

use crate::slo::{HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_REQUESTS, Indicator, Slo, Target};

/// Outcomes of `#[observed]` that spend the error budget.
pub(crate) const BAD_OUTCOMES: &str = "server_error|panic";
/// HTTP statuses that spend the error budget.
pub(crate) const BAD_STATUS: &str = "5..";

/// A label value as a PromQL string literal body.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A number without float noise (`0.001`, `14.4`).
pub(crate) fn num(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The `le` label value the `prometheus` crate writes for a bucket bound.
pub(crate) fn le(bound: f64) -> String {
    format!("{bound}")
}

/// Metric families of a target: (requests counter, duration histogram, in-flight gauge).
pub(crate) fn families(t: &Target) -> (String, String, String) {
    match t {
        Target::Event { family, .. } => (
            format!("{family}_total"),
            format!("{family}_duration_seconds"),
            format!("{family}_in_flight"),
        ),
        Target::Route { .. } => (
            HTTP_REQUESTS.to_owned(),
            HTTP_DURATION.to_owned(),
            HTTP_IN_FLIGHT.to_owned(),
        ),
    }
}

/// The matcher of a target (`event="orders.get"` or `route="/orders/{id}"`), plus `extra`.
pub(crate) fn matcher(t: &Target, extra: &str) -> String {
    let own = match t {
        Target::Event { event, .. } => format!("event=\"{}\"", escape(event)),
        Target::Route { route } => format!("route=\"{}\"", escape(route)),
    };
    if extra.is_empty() {
        own
    } else {
        format!("{own},{extra}")
    }
}

/// The bad-call matcher of a target.
fn bad(t: &Target) -> String {
    match t {
        Target::Event { .. } => format!("outcome=~\"{BAD_OUTCOMES}\""),
        Target::Route { .. } => format!("status=~\"{BAD_STATUS}\""),
    }
}

/// The error ratio of an indicator over `range` (a PromQL duration), grouped by `by`;
/// `extra` adds matchers (the dashboard's `job=~"$service"`). Zero, not nothing, when no call
/// failed: a missing error series must not hide a healthy service.
pub(crate) fn error_ratio(
    slo: &Slo,
    ind: &Indicator,
    range: &str,
    by: &str,
    extra: &str,
) -> String {
    let (total, duration, _) = families(&slo.target);
    let m = matcher(&slo.target, extra);
    match ind {
        Indicator::Success { .. } => {
            let all = format!("sum by ({by}) (rate({total}{{{m}}}[{range}]))");
            let bad = format!(
                "sum by ({by}) (rate({total}{{{m},{}}}[{range}]))",
                bad(&slo.target)
            );
            format!("({bad} or (0 * {all})) / {all}")
        }
        Indicator::Latency { ms, .. } => {
            let bound = le(*ms as f64 / 1000.0);
            format!(
                "1 - (sum by ({by}) (rate({duration}_bucket{{{m},le=\"{bound}\"}}[{range}])) / sum by ({by}) (rate({duration}_count{{{m}}}[{range}])))"
            )
        }
    }
}
