//! Metric shapes teams already alert on: constant labels, the outcome label renamed and its
//! values mapped, the duration histogram named. The exposition is parsed back with
//! `prometheus-parse` and the families compared exactly (names, label sets, values).

use observa::observed;
use std::collections::BTreeSet;

mod log_support;

fn setup() {
    log_support::capture("metric-shapes-tests", "info");
}

fn scrape() -> prometheus_parse::Scrape {
    let text = observa::metrics::render();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses")
}

/// The label names of every sample of `metric`.
fn label_sets(s: &prometheus_parse::Scrape, metric: &str) -> BTreeSet<Vec<String>> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .map(|x| {
            let mut k: Vec<String> = x.labels.keys().cloned().collect();
            k.sort();
            k
        })
        .collect()
}

fn counter(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples.iter().find_map(|x| {
        if x.metric != metric
            || x.labels.iter().count() != labels.len()
            || !labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))
        {
            return None;
        }
        match x.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        }
    })
}

#[derive(Debug)]
struct SyncError(bool);

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sync failed")
    }
}

impl std::error::Error for SyncError {}

impl observa::Classify for SyncError {
    fn error_class(&self) -> observa::ErrorClass {
        if self.0 {
            observa::ErrorClass::Client
        } else {
            observa::ErrorClass::Server
        }
    }
}

// Seed 001: `worker_jobs_total{job_type,status}` (`completed`, `failed`) and
// `worker_job_duration_seconds{job_type}`.
#[observed(
    event = "shopify_sync",
    metric = "worker_jobs",
    duration_metric = "worker_job_duration_seconds",
    labels(job_type = "shopify_sync"),
    outcome_label = "status",
    outcomes(ok = "completed", failed = "failed")
)]
fn shopify_sync(kind: u8) -> Result<u32, SyncError> {
    match kind {
        0 => Ok(1),
        1 => Err(SyncError(true)),
        2 => Err(SyncError(false)),
        3 => panic!("worker crashed"),
        // Reads this call's own in-flight gauge.
        _ => Ok(in_flight("shopify_sync") as u32),
    }
}

// A second job type shares the families (same label names).
#[observed(
    event = "netsuite_sync",
    metric = "worker_jobs",
    duration_metric = "worker_job_duration_seconds",
    labels(job_type = "netsuite_sync"),
    outcome_label = "status",
    outcomes(ok = "completed", failed = "failed")
)]
fn netsuite_sync() -> Result<(), SyncError> {
    Ok(())
}

fn in_flight(event: &str) -> f64 {
    let s = scrape();
    let g = s
        .samples
        .iter()
        .find(|x| x.metric == "worker_jobs_in_flight" && x.labels.get("event") == Some(event))
        .expect("in-flight gauge");
    match g.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

#[test]
fn seed001_worker_metrics_come_out_exactly() {
    setup();
    for _ in 0..3 {
        assert_eq!(shopify_sync(0).unwrap(), 1);
    }
    assert!(shopify_sync(1).is_err());
    assert!(shopify_sync(2).is_err());
    assert!(std::panic::catch_unwind(|| shopify_sync(3)).is_err());
    netsuite_sync().unwrap();
    // Outcomes mapped to one series (`failed`) are counted once by the in-flight gauge.
    assert_eq!(shopify_sync(4).unwrap(), 1, "this call is in flight");
    assert_eq!(in_flight("shopify_sync"), 0.0);

    let s = scrape();
    assert_eq!(
        label_sets(&s, "worker_jobs_total"),
        BTreeSet::from([vec!["job_type".to_owned(), "status".to_owned()]])
    );
    assert_eq!(
        counter(
            &s,
            "worker_jobs_total",
            &[("job_type", "shopify_sync"), ("status", "completed")]
        ),
        Some(4.0)
    );
    // client error, server error and panic all count as `failed`.
    assert_eq!(
        counter(
            &s,
            "worker_jobs_total",
            &[("job_type", "shopify_sync"), ("status", "failed")]
        ),
        Some(3.0)
    );
    assert_eq!(
        counter(
            &s,
            "worker_jobs_total",
            &[("job_type", "netsuite_sync"), ("status", "completed")]
        ),
        Some(1.0)
    );
    let statuses: BTreeSet<&str> = s
        .samples
        .iter()
        .filter(|x| x.metric == "worker_jobs_total")
        .filter_map(|x| x.labels.get("status"))
        .collect();
    assert_eq!(statuses, BTreeSet::from(["completed", "failed"]));

    // The histogram: `job_type` only (the parser folds `_bucket`/`_sum`/`_count` into it).
    let hist: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == "worker_job_duration_seconds")
        .collect();
    assert_eq!(hist.len(), 2, "one histogram per job type");
    for h in &hist {
        assert_eq!(h.labels.iter().count(), 1, "{:?}", h.labels);
        match &h.value {
            prometheus_parse::Value::Histogram(b) => {
                let count = b
                    .iter()
                    .find(|c| c.less_than == f64::INFINITY)
                    .unwrap()
                    .count;
                let want = if h.labels.get("job_type") == Some("shopify_sync") {
                    7.0
                } else {
                    1.0
                };
                assert_eq!(count, want);
            }
            v => panic!("not a histogram: {v:?}"),
        }
    }
    assert!(
        !s.samples
            .iter()
            .any(|x| x.metric == "worker_jobs_duration_seconds"),
        "the default histogram name is not used"
    );
}

// Only the outcome label renamed: the `event` label stays.
#[observed(
    event = "mcp.tool",
    metric = "mcp_tool_invocations",
    outcome_label = "status",
    outcomes(ok = "success", failed = "error")
)]
fn tool(fail: bool) -> Result<(), SyncError> {
    if fail { Err(SyncError(false)) } else { Ok(()) }
}

#[test]
fn outcome_label_alone_keeps_the_event_label() {
    setup();
    tool(false).unwrap();
    tool(true).unwrap_err();
    let s = scrape();
    assert_eq!(
        label_sets(&s, "mcp_tool_invocations_total"),
        BTreeSet::from([vec!["event".to_owned(), "status".to_owned()]])
    );
    assert_eq!(
        counter(
            &s,
            "mcp_tool_invocations_total",
            &[("event", "mcp.tool"), ("status", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        counter(
            &s,
            "mcp_tool_invocations_total",
            &[("event", "mcp.tool"), ("status", "error")]
        ),
        Some(1.0)
    );
}

// Without any shape option nothing changes.
#[observed(event = "plain.call", metric = "shape_plain")]
fn plain() {}

#[test]
fn the_default_shape_is_unchanged() {
    setup();
    plain();
    let s = scrape();
    assert_eq!(
        label_sets(&s, "shape_plain_total"),
        BTreeSet::from([vec!["event".to_owned(), "outcome".to_owned()]])
    );
    assert_eq!(
        counter(
            &s,
            "shape_plain_total",
            &[("event", "plain.call"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert!(
        s.samples
            .iter()
            .any(|x| x.metric == "shape_plain_duration_seconds")
    );
}
