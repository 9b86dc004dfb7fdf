//! Worker job lifecycles: started / completed / failed / retried with the attempt number, the
//! seeds' `worker_*` metrics read back from the exposition, lines captured from the pipeline.

use observa::lifecycle::worker::{self, Attempt, Retry};
use serde_json::Value;
use std::time::Duration;

mod log_support;

/// Production mode: fields of events observa does not own are filtered to an allowlist there,
/// so this also proves the lifecycle lines are observa's own (their fields survive).
fn setup() {
    log_support::capture_config(
        observa::Config::new("worker-tests")
            .with_environment("production")
            .with_log_level("info"),
    );
}

fn metric(line_prefix: &str) -> f64 {
    observa::metrics::render()
        .lines()
        .find_map(|l| {
            l.strip_prefix(line_prefix)
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

fn job_lines(job_id: &str, until: &str) -> Vec<Value> {
    log_support::wait_lines(
        |l| l["job_id"] == job_id,
        |l| l.iter().any(|l| l["event"] == until),
    )
}

#[tokio::test]
async fn retries_are_logged_with_attempt_numbers_and_counted() {
    setup();
    let retries = "worker_job_retries_total{job_type=\"invoice_sync\"} ";
    let completed = "worker_jobs_total{job_type=\"invoice_sync\",status=\"completed\"} ";
    let (r0, c0) = (metric(retries), metric(completed));
    let out: Result<u32, String> = worker::run(
        "invoice_sync",
        &"job-retry-1",
        Retry::attempts(5).with_backoff(Duration::from_millis(1)),
        |attempt| async move {
            if attempt < 3 {
                Err(format!("upstream 503 on attempt {attempt}"))
            } else {
                Ok(attempt * 10)
            }
        },
    )
    .await;
    assert_eq!(out, Ok(30), "the job's result is returned unchanged");
    let lines = job_lines("job-retry-1", "worker.job_completed");
    let ev: Vec<(&str, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or(""),
                l["attempt"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        ev,
        [
            ("worker.job_started", 1),
            ("worker.job_retried", 1),
            ("worker.job_started", 2),
            ("worker.job_retried", 2),
            ("worker.job_started", 3),
            ("worker.job_completed", 3),
        ],
        "{lines:#?}"
    );
    let retried = &lines[3];
    assert_eq!(retried["level"], "warn");
    assert_eq!(retried["next_attempt"], 3);
    assert_eq!(retried["backoff_ms"], 2, "second backoff doubles the first");
    assert_eq!(retried["error"], "upstream 503 on attempt 2");
    assert_eq!(retried["job_type"], "invoice_sync");
    assert_eq!(lines[5]["level"], "info");
    assert_eq!(lines[5]["attempts"], 3);
    assert!(lines[5]["duration_ms"].as_f64().is_some());
    assert_eq!(metric(retries), r0 + 2.0);
    assert_eq!(metric(completed), c0 + 1.0);
}

#[tokio::test]
async fn the_last_failed_attempt_is_an_error_and_a_failed_job() {
    setup();
    let retries = "worker_job_retries_total{job_type=\"report_build\"} ";
    let failed = "worker_jobs_total{job_type=\"report_build\",status=\"failed\"} ";
    let (r0, f0) = (metric(retries), metric(failed));
    let out: Result<(), &str> = worker::run(
        "report_build",
        &"job-fail-1",
        Retry::attempts(2).with_backoff(Duration::from_millis(1)),
        |_| async { Err("disk full") },
    )
    .await;
    assert_eq!(out, Err("disk full"));
    let lines = job_lines("job-fail-1", "worker.job_failed");
    let last = lines.last().expect("lines");
    assert_eq!(last["event"], "worker.job_failed");
    assert_eq!(last["level"], "error");
    assert_eq!(last["attempt"], 2);
    assert_eq!(last["attempts"], 2);
    assert_eq!(last["error"], "disk full");
    assert_eq!(metric(retries), r0 + 1.0);
    assert_eq!(metric(failed), f0 + 1.0);
}

#[tokio::test]
async fn an_attempt_dropped_unfinished_counts_as_failed() {
    setup();
    let failed = "worker_jobs_total{job_type=\"manual_job\",status=\"failed\"} ";
    let f0 = metric(failed);
    // A worker with its own redelivery loop: attempt 4 of a broker message, then cancelled.
    let a = Attempt::start("manual_job", &"job-drop-1", 4);
    assert_eq!(a.attempt(), 4);
    drop(a);
    let lines = job_lines("job-drop-1", "worker.job_failed");
    let last = lines.last().expect("lines");
    assert_eq!(last["error_type"], "cancelled");
    assert_eq!(last["attempt"], 4);
    assert_eq!(metric(failed), f0 + 1.0);
}
