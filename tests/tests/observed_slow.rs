//! `#[observed(slow_ms = N)]`: a successful call slower than N ms completes at WARN with
//! `slow_threshold_ms` (seed 004's slow-query log), one under it stays at the site's level.

use observa::observed;
use serde_json::Value;
use std::time::Duration;

mod log_support;

fn setup() {
    log_support::capture("slow-tests", "info");
}

fn completion(event: &str) -> Vec<Value> {
    log_support::wait_lines(|l| l["event"] == event, |l| !l.is_empty())
}

#[observed(event = "db.orders_query", slow_ms = 20)]
async fn slow_query() -> Result<u32, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(60)).await;
    Ok(7)
}

#[observed(event = "db.fast_query", slow_ms = 60000)]
async fn fast_query() -> Result<u32, std::io::Error> {
    Ok(8)
}

#[observed(event = "db.sync_scan", slow_ms = 20)]
fn sync_scan() -> u32 {
    std::thread::sleep(Duration::from_millis(60));
    9
}

/// Sampling drops successful completions; a slow one is never dropped.
#[observed(event = "db.sampled_slow", slow_ms = 5, sample = 0.001)]
fn sampled_slow(i: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(15));
    i
}

#[tokio::test]
async fn a_slow_call_completes_at_warn_with_the_threshold() {
    setup();
    assert_eq!(slow_query().await.expect("ok"), 7);
    let l = &completion("db.orders_query.completed")[0];
    assert_eq!(l["level"], "warn", "{l}");
    assert_eq!(l["outcome"], "ok");
    assert_eq!(l["slow_threshold_ms"], 20);
    assert!(l["duration_ms"].as_f64().is_some_and(|d| d >= 20.0), "{l}");
}

#[tokio::test]
async fn a_call_under_the_threshold_stays_info() {
    setup();
    assert_eq!(fast_query().await.expect("ok"), 8);
    let l = &completion("db.fast_query.completed")[0];
    assert_eq!(l["level"], "info", "{l}");
    assert!(l.get("slow_threshold_ms").is_none(), "{l}");
}

#[test]
fn sync_calls_and_sampled_calls_too() {
    setup();
    assert_eq!(sync_scan(), 9);
    let l = &completion("db.sync_scan.completed")[0];
    assert_eq!(l["level"], "warn", "{l}");
    for i in 0..3 {
        assert_eq!(sampled_slow(i), i);
    }
    let lines = log_support::wait_lines(
        |l| l["event"] == "db.sampled_slow.completed",
        |l| l.len() >= 3,
    );
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines.iter().all(|l| l["level"] == "warn"));
}
