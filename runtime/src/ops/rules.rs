//! Prometheus recording rules and multi-window, multi-burn-rate alerting rules (the Google SRE
//! workbook's: page on 2% of a 30-day budget spent in 1h or 5% in 6h, ticket on 10% in 1d or
//! 10% in 3d, each confirmed by a short window of a twelfth of the long one), with every
//! window scaled to the objective's compliance window.

use super::promql::{self, num};
use crate::slo::{Indicator, Slo, duration_text};

/// Name of the recorded error ratio over `range`: `observa_slo:sli_error:ratio_rate<range>`.
pub fn ratio_record(range: &str) -> String {
    format!("observa_slo:sli_error:ratio_rate{range}")
}

/// Name of the recorded remaining error budget over the compliance window (1 = untouched,
/// 0 = spent, negative = overspent).
pub const BUDGET_RECORD: &str = "observa_slo:error_budget:remaining";
/// Name of the recorded objective (the target ratio, for threshold lines).
pub const OBJECTIVE_RECORD: &str = "observa_slo:objective:ratio";

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Wake someone up.
    Page,
    /// Look at it during working hours.
    Ticket,
}

impl Severity {
    /// `page` / `ticket`: the `severity` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One pair of windows of an alert: the burn rate must exceed `factor` over both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnWindow {
    /// Long window, seconds.
    pub long: u64,
    /// Short window, seconds.
    pub short: u64,
    /// Burn rate threshold (multiples of the rate that spends the budget exactly in the window).
    pub factor: f64,
    /// Which alert it belongs to.
    pub severity: Severity,
}

/// The workbook's four window pairs for a 30-day window, scaled to `window_secs` (at least a
/// second each).
pub fn burn_windows(window_secs: u64) -> [BurnWindow; 4] {
    const H: u64 = 3_600;
    let scale = |s: u64| ((s as u128 * window_secs as u128) / (30 * 86_400) as u128).max(1) as u64;
    let w = |long: u64, short: u64, factor: f64, severity| BurnWindow {
        long: scale(long),
        short: scale(short),
        factor,
        severity,
    };
    [
        w(H, 5 * 60, 14.4, Severity::Page),
        w(6 * H, 30 * 60, 6.0, Severity::Page),
        w(24 * H, 2 * H, 3.0, Severity::Ticket),
        w(72 * H, 6 * H, 1.0, Severity::Ticket),
    ]
}

/// Every range an indicator's rules record: the burn windows, then the compliance window.
pub fn ranges(window_secs: u64) -> Vec<String> {
    let mut v: Vec<u64> = burn_windows(window_secs)
        .iter()
        .flat_map(|b| [b.short, b.long])
        .collect();
    v.push(window_secs);
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(duration_text).collect()
}

/// One generated alert.
#[derive(Clone, Debug)]
pub struct Alert {
    /// `alertname`.
    pub name: String,
    /// `page` or `ticket`.
    pub severity: Severity,
    /// The objective.
    pub slo: Slo,
    /// Which of its indicators.
    pub indicator: Indicator,
    /// The alert expression.
    pub expr: String,
    /// Its window pairs.
    pub windows: Vec<BurnWindow>,
}

fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The `slo`/`sli` matcher of the recorded series of an indicator.
pub(super) fn series_matcher(slo: &Slo, ind: &Indicator) -> String {
    format!(
        "slo=\"{}\",sli=\"{}\"",
        promql::escape(&slo.name()),
        ind.kind()
    )
}

/// The alerts of every objective: a page and a ticket per indicator.
pub fn alerts(slos: &[Slo]) -> Vec<Alert> {
    let mut out = Vec::new();
    for slo in slos {
        for ind in slo.objective.indicators() {
            let budget = 1.0 - ind.target();
            let sel = series_matcher(slo, &ind);
            for sev in [Severity::Page, Severity::Ticket] {
                let windows: Vec<BurnWindow> = burn_windows(slo.objective.window_secs)
                    .into_iter()
                    .filter(|w| w.severity == sev)
                    .collect();
                let expr = windows
                    .iter()
                    .map(|w| {
                        let t = num(w.factor * budget);
                        format!(
                            "({long}{{{sel}}} > {t} and {short}{{{sel}}} > {t})",
                            long = ratio_record(&duration_text(w.long)),
                            short = ratio_record(&duration_text(w.short)),
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" or ");
                let name = format!(
                    "Slo{}{}Burn{}",
                    camel(&slo.name()),
                    camel(ind.kind()),
                    camel(sev.as_str())
                );
                out.push(Alert {
                    name,
                    severity: sev,
                    slo: slo.clone(),
                    indicator: ind,
                    expr,
                    windows,
                });
            }
        }
    }
    out
}

/// What an indicator promises, in words (`99.9% of calls succeed`).
pub(super) fn promise(slo: &Slo, ind: &Indicator) -> String {
    let pct = num(ind.target() * 100.0);
    let what = match &slo.target {
        crate::slo::Target::Event { event, .. } => format!("`{event}` calls"),
        crate::slo::Target::Route { route } => format!("requests to `{route}`"),
    };
    match ind {
        Indicator::Success { .. } => format!("{pct}% of {what} succeed"),
        Indicator::Latency { ms, .. } => format!("{pct}% of {what} finish within {ms} ms"),
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The rules file (YAML), `runbook_base` prefixing `<alert>.md` in `runbook_url`.
pub(super) fn render(slos: &[Slo], runbook_base: &str) -> String {
    let alerts = alerts(slos);
    let mut y = String::from(
        "# Generated by observa::ops from the objectives in the code: do not edit.\ngroups:",
    );
    if slos.is_empty() {
        y.push_str(" []\n");
        return y;
    }
    y.push('\n');
    for slo in slos {
        for ind in slo.objective.indicators() {
            let window = duration_text(slo.objective.window_secs);
            let budget = 1.0 - ind.target();
            y.push_str(&format!(
                "  - name: {}\n    rules:\n",
                q(&format!("observa-slo {} {}", slo.name(), ind.kind()))
            ));
            let labels = format!(
                "        labels:\n          slo: {}\n          sli: {}\n",
                q(&slo.name()),
                q(ind.kind())
            );
            for range in ranges(slo.objective.window_secs) {
                y.push_str(&format!(
                    "      - record: {}\n        expr: {}\n{labels}",
                    q(&ratio_record(&range)),
                    q(&promql::error_ratio(slo, &ind, &range, "job", ""))
                ));
            }
            let sel = series_matcher(slo, &ind);
            y.push_str(&format!(
                "      - record: {}\n        expr: {}\n{labels}",
                q(BUDGET_RECORD),
                q(&format!(
                    "1 - {}{{{sel}}} / {}",
                    ratio_record(&window),
                    num(budget)
                ))
            ));
            y.push_str(&format!(
                "      - record: {}\n        expr: {}\n{labels}",
                q(OBJECTIVE_RECORD),
                q(&format!("vector({})", num(ind.target())))
            ));
            for a in alerts
                .iter()
                .filter(|a| a.slo == *slo && a.indicator == ind)
            {
                let first = a.windows[0];
                let summary = format!(
                    "{}: burning the {window} error budget of '{}' ({})",
                    slo.name(),
                    promise(slo, &ind),
                    a.severity.as_str()
                );
                let pairs = a
                    .windows
                    .iter()
                    .map(|w| {
                        format!(
                            "{}x over {} and {}",
                            num(w.factor),
                            duration_text(w.long),
                            duration_text(w.short)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", or ");
                let description = format!(
                    "{{{{ $labels.job }}}}: the error ratio of {} is {{{{ $value | humanizePercentage }}}} over {}, against a budget of {}% ({}): at least {pairs} the rate that spends the budget in exactly {window}.",
                    slo.name(),
                    duration_text(first.long),
                    num(budget * 100.0),
                    ind.kind(),
                );
                y.push_str(&format!(
                    "      - alert: {}\n        expr: {}\n        labels:\n          severity: {}\n          slo: {}\n          sli: {}\n        annotations:\n          summary: {}\n          description: {}\n          runbook_url: {}\n",
                    q(&a.name),
                    q(&a.expr),
                    q(a.severity.as_str()),
                    q(&slo.name()),
                    q(ind.kind()),
                    q(&summary),
                    q(&description),
                    q(&format!("{}{}.md", runbook_base, a.name)),
                ));
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workbook_windows_for_30_days() {
        let w = burn_windows(30 * 86_400);
        assert_eq!((w[0].long, w[0].short, w[0].factor), (3_600, 300, 14.4));
        assert_eq!(
            (w[3].long, w[3].short, w[3].factor),
            (3 * 86_400, 6 * 3_600, 1.0)
        );
    }

    #[test]
    fn windows_scale_with_the_objective() {
        let w = burn_windows(7 * 86_400);
        assert_eq!(w[0].long, 840);
        assert_eq!(w[0].short, 70);
        assert_eq!(ranges(7 * 86_400).last().map(String::as_str), Some("1w"));
    }
}
