//! `#[observed]` counts are kept per thread and summed at scrape time: calls made by a thread
//! that has exited are still counted, a scrape on another thread sees the calls made just
//! before it, and the histogram stays consistent (count = +Inf bucket = sum of the calls).

use observa::observed;

mod log_support;

use log_support::sample;

fn setup() {
    log_support::capture("metrics-shards-tests", "info");
}

#[observed(event = "shards.exited", metric = "shards_exited")]
fn exited_call(x: u64) -> u64 {
    x + 1
}

#[observed(event = "shards.fresh", metric = "shards_fresh")]
fn fresh_call(x: u64) -> Result<u64, std::io::Error> {
    if x.is_multiple_of(2) {
        Ok(x)
    } else {
        Err(std::io::Error::other("odd"))
    }
}

#[test]
fn calls_of_exited_threads_are_still_counted() {
    setup();
    for _ in 0..4 {
        std::thread::spawn(|| {
            for i in 0..250 {
                exited_call(i);
            }
        })
        .join()
        .unwrap();
    }
    let text = observa::metrics::render();
    assert_eq!(
        sample(
            &text,
            "shards_exited_total{event=\"shards.exited\",outcome=\"ok\"}"
        ),
        1000.0
    );
    assert_eq!(
        sample(
            &text,
            "shards_exited_duration_seconds_count{event=\"shards.exited\"}"
        ),
        1000.0
    );
    assert_eq!(
        sample(
            &text,
            "shards_exited_duration_seconds_bucket{event=\"shards.exited\",le=\"+Inf\"}"
        ),
        1000.0
    );
    assert_eq!(
        sample(&text, "shards_exited_in_flight{event=\"shards.exited\"}"),
        0.0
    );
    // Threads come and go: their shards are reused, the counts keep adding up.
    for _ in 0..3 {
        std::thread::spawn(|| exited_call(1)).join().unwrap();
    }
    let text = observa::metrics::render();
    assert_eq!(
        sample(
            &text,
            "shards_exited_total{event=\"shards.exited\",outcome=\"ok\"}"
        ),
        1003.0
    );
}

#[test]
fn a_scrape_on_another_thread_sees_the_calls_just_made() {
    setup();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<String>();
    let scraper = std::thread::spawn(move || {
        while rx.recv().is_ok() {
            done_tx.send(observa::metrics::render()).unwrap();
        }
    });
    for round in 1..=3u64 {
        for i in 0..10 {
            let _ = fresh_call(i);
        }
        tx.send(round).unwrap();
        let text = done_rx.recv().unwrap();
        assert_eq!(
            sample(
                &text,
                "shards_fresh_total{event=\"shards.fresh\",outcome=\"ok\"}"
            ),
            (5 * round) as f64,
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                "shards_fresh_total{event=\"shards.fresh\",outcome=\"server_error\"}"
            ),
            (5 * round) as f64
        );
        assert_eq!(
            sample(
                &text,
                "shards_fresh_duration_seconds_count{event=\"shards.fresh\"}"
            ),
            (10 * round) as f64
        );
        assert_eq!(
            sample(&text, "shards_fresh_in_flight{event=\"shards.fresh\"}"),
            0.0
        );
    }
    drop(tx);
    scraper.join().unwrap();
}

#[observed(event = "shards.slow", metric = "shards_slow", tenant)]
fn slow_call(tenant: &str) -> u64 {
    let _ = tenant;
    std::thread::sleep(std::time::Duration::from_millis(30));
    1
}

/// The histogram's sum is in seconds and its buckets follow the bounds in seconds, for calls
/// of a live thread and of an exited one (durations are kept in clock ticks per thread and
/// converted at scrape time).
#[test]
fn histogram_sum_and_buckets_are_in_seconds() {
    setup();
    slow_call("t-1");
    slow_call("t-2");
    std::thread::spawn(|| slow_call("t-3")).join().unwrap();
    let text = observa::metrics::render();
    let sum = sample(
        &text,
        "shards_slow_duration_seconds_sum{event=\"shards.slow\"}",
    );
    assert!(
        (0.09..5.0).contains(&sum),
        "sum of three 30 ms calls: {sum}"
    );
    for (le, want) in [("0.005", 0.0), ("0.025", 0.0), ("+Inf", 3.0)] {
        assert_eq!(
            sample(
                &text,
                &format!(
                    "shards_slow_duration_seconds_bucket{{event=\"shards.slow\",le=\"{le}\"}}"
                )
            ),
            want,
            "le={le}"
        );
    }
}
