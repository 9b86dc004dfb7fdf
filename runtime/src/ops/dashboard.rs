//! The Grafana dashboard: per event and per route latency quantiles, error ratio, throughput
//! and in-flight calls; per objective the remaining error budget and the burn rate with the
//! objective as a threshold line. Variables: the Prometheus data source and the service (`job`).

use super::promql::{self, num};
use super::rules::{self, BUDGET_RECORD, series_matcher};
use crate::slo::{HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_REQUESTS, Slo, Target, duration_text};
use serde_json::{Value, json};

/// The service filter every expression carries.
pub(super) const SERVICE: &str = "job=~\"$service\"";
/// The rate range of every panel.
pub(super) const RANGE: &str = "$__rate_interval";

/// One panel to lay out: title, unit, targets (expression, legend), threshold line.
type PanelSpec<'a> = (String, &'a str, Vec<(String, String)>, Option<f64>);

struct Builder {
    panels: Vec<Value>,
    next_id: u64,
    y: u64,
}

impl Builder {
    fn row(&mut self, title: &str) {
        let id = self.id();
        self.panels.push(json!({
            "type": "row", "id": id, "title": title, "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": self.y }, "panels": []
        }));
        self.y += 1;
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A row of timeseries panels: (title, unit, targets (expr, legend), threshold).
    fn panels(&mut self, list: Vec<PanelSpec<'_>>) {
        let w = 24 / list.len().max(1) as u64;
        for (i, (title, unit, targets, threshold)) in list.into_iter().enumerate() {
            let id = self.id();
            let targets: Vec<Value> = targets
                .into_iter()
                .enumerate()
                .map(|(n, (expr, legend))| {
                    json!({
                        "datasource": { "type": "prometheus", "uid": "${datasource}" },
                        "expr": expr, "legendFormat": legend,
                        "refId": ((b'A' + n as u8) as char).to_string(),
                    })
                })
                .collect();
            let mut defaults =
                json!({ "unit": unit, "custom": { "thresholdsStyle": { "mode": "off" } } });
            if let Some(t) = threshold {
                defaults["thresholds"] = json!({ "mode": "absolute", "steps": [
                    { "color": "green", "value": null }, { "color": "red", "value": t }
                ]});
                defaults["custom"]["thresholdsStyle"] = json!({ "mode": "line" });
            }
            self.panels.push(json!({
                "type": "timeseries", "id": id, "title": title,
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "gridPos": { "h": 8, "w": w, "x": w * i as u64, "y": self.y },
                "fieldConfig": { "defaults": defaults, "overrides": [] },
                "options": { "legend": { "displayMode": "list", "placement": "bottom" } },
                "targets": targets,
            }));
        }
        self.y += 8;
    }
}

fn quantiles(hist: &str, m: &str, by: &str) -> Vec<(String, String)> {
    [0.5, 0.95, 0.99]
        .iter()
        .map(|q| {
            let legend = format!("p{}", num(q * 100.0));
            let legend = if by == "le" {
                legend
            } else {
                format!("{legend} {{{{route}}}}")
            };
            (
                format!(
                    "histogram_quantile({q}, sum by ({by}) (rate({hist}_bucket{{{m}}}[{RANGE}])))"
                ),
                legend,
            )
        })
        .collect()
}

/// The dashboard JSON for the events `events` (family prefix, event id) and objectives `slos`.
pub(super) fn render(
    title: &str,
    uid: &str,
    events: &[(&'static str, &'static str)],
    slos: &[Slo],
) -> Value {
    let mut b = Builder {
        panels: Vec::new(),
        next_id: 0,
        y: 0,
    };
    for (family, event) in events {
        let m = format!("event=\"{}\",{SERVICE}", promql::escape(event));
        let objective = slos
            .iter()
            .find(|s| matches!(&s.target, Target::Event { event: e, .. } if e == event));
        let error_threshold = objective
            .and_then(|s| s.objective.success)
            .map(|p| 1.0 - p / 100.0);
        let latency_threshold = objective.and_then(|s| s.objective.latency_bound());
        b.row(&format!("event {event}"));
        b.panels(vec![
            (
                format!("{event}: latency p50 / p95 / p99"),
                "s",
                quantiles(&format!("{family}_duration_seconds"), &m, "le"),
                latency_threshold,
            ),
            (
                format!("{event}: error ratio"),
                "percentunit",
                vec![(
                    format!(
                        "(sum(rate({family}_total{{{m},outcome=~\"{}\"}}[{RANGE}])) or vector(0)) / sum(rate({family}_total{{{m}}}[{RANGE}]))",
                        promql::BAD_OUTCOMES
                    ),
                    "errors".to_owned(),
                )],
                error_threshold,
            ),
            (
                format!("{event}: throughput by outcome"),
                "reqps",
                vec![(
                    format!("sum by (outcome) (rate({family}_total{{{m}}}[{RANGE}]))"),
                    "{{outcome}}".to_owned(),
                )],
                None,
            ),
            (
                format!("{event}: in flight"),
                "short",
                vec![(format!("sum({family}_in_flight{{{m}}})"), "in flight".to_owned())],
                None,
            ),
        ]);
    }
    let route_threshold = slos.iter().find_map(|s| match &s.target {
        Target::Route { .. } => s.objective.success.map(|p| 1.0 - p / 100.0),
        Target::Event { .. } => None,
    });
    b.row("HTTP routes");
    b.panels(vec![
        (
            "HTTP latency p50 / p95 / p99 by route".to_owned(),
            "s",
            quantiles(HTTP_DURATION, SERVICE, "route, le"),
            None,
        ),
        (
            "HTTP error ratio (5xx) by route".to_owned(),
            "percentunit",
            vec![(
                format!(
                    "(sum by (route) (rate({HTTP_REQUESTS}{{{SERVICE},status=~\"{}\"}}[{RANGE}])) or (0 * sum by (route) (rate({HTTP_REQUESTS}{{{SERVICE}}}[{RANGE}])))) / sum by (route) (rate({HTTP_REQUESTS}{{{SERVICE}}}[{RANGE}]))",
                    promql::BAD_STATUS
                ),
                "{{route}}".to_owned(),
            )],
            route_threshold,
        ),
        (
            "HTTP throughput by route and status".to_owned(),
            "reqps",
            vec![(
                format!("sum by (route, status) (rate({HTTP_REQUESTS}{{{SERVICE}}}[{RANGE}]))"),
                "{{route}} {{status}}".to_owned(),
            )],
            None,
        ),
        (
            "HTTP requests in flight".to_owned(),
            "short",
            vec![(format!("sum({HTTP_IN_FLIGHT}{{{SERVICE}}})"), "in flight".to_owned())],
            None,
        ),
    ]);
    for slo in slos {
        for ind in slo.objective.indicators() {
            let sel = format!("{},{SERVICE}", series_matcher(slo, &ind));
            let window = duration_text(slo.objective.window_secs);
            let budget = 1.0 - ind.target();
            let windows = rules::burn_windows(slo.objective.window_secs);
            let (fast, slow) = (
                duration_text(windows[0].long),
                duration_text(windows[2].long),
            );
            b.row(&format!("objective: {}", rules::promise(slo, &ind)));
            b.panels(vec![
                (
                    format!(
                        "{} {}: remaining error budget ({window})",
                        slo.name(),
                        ind.kind()
                    ),
                    "percentunit",
                    vec![(format!("{BUDGET_RECORD}{{{sel}}}"), "{{job}}".to_owned())],
                    Some(0.0),
                ),
                (
                    format!(
                        "{} {}: burn rate (1 = spends the budget in {window})",
                        slo.name(),
                        ind.kind()
                    ),
                    "short",
                    vec![
                        (
                            format!("{}{{{sel}}} / {}", rules::ratio_record(&fast), num(budget)),
                            format!("{fast} {{{{job}}}}"),
                        ),
                        (
                            format!("{}{{{sel}}} / {}", rules::ratio_record(&slow), num(budget)),
                            format!("{slow} {{{{job}}}}"),
                        ),
                    ],
                    Some(1.0),
                ),
            ]);
        }
    }
    let first = events
        .first()
        .map_or_else(|| HTTP_REQUESTS.to_owned(), |(f, _)| format!("{f}_total"));
    json!({
        "title": title,
        "uid": uid,
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "tags": ["observa", "slo"],
        "time": { "from": "now-6h", "to": "now" },
        "refresh": "30s",
        "templating": { "list": [
            {
                "name": "datasource", "label": "Data source", "type": "datasource",
                "query": "prometheus", "current": {}, "hide": 0
            },
            {
                "name": "service", "label": "Service", "type": "query",
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "query": { "query": format!("label_values({first}, job)"), "refId": "service" },
                "definition": format!("label_values({first}, job)"),
                "includeAll": true, "multi": true, "allValue": ".*", "refresh": 2,
                "current": {}, "hide": 0
            }
        ]},
        "annotations": { "list": [] },
        "panels": b.panels,
    })
}
