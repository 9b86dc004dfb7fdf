//! An OTLP collector that is down, then comes up: export failures and dropped spans are
//! counted, one WARN line marks the start of the outage and one its end (not one per batch),
//! and once the collector answers, the decoded payload names span events after their event id.

mod otlp_support;

use observa::observed;
use serde_json::Value;
use std::time::{Duration, Instant};

#[observed(event = "t.outage_job")]
fn job(n: u64) -> u64 {
    n + 1
}

fn counter(name: &str) -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| {
            name != "observa_export_errors_total" || s.labels.get("exporter") == Some("otlp")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .sum()
}

fn lines_with(logs: &observa::MemoryWriter, event: &str) -> Vec<Value> {
    logs.contents()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn outage_is_counted_and_logged_once_at_start_and_once_at_end() {
    // Export every 20 ms so several batches fail during the outage.
    // SAFETY: set before any other thread of this test process reads the environment.
    unsafe { std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "20") };
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A port nothing listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("otlp-outage").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://127.0.0.1:{port}"));
    let guard = observa::init(cfg).unwrap();

    // Several batches against the closed port.
    let mut sent = 0u64;
    wait_until("three failed batches", || {
        sent += 1;
        assert_eq!(job(sent), sent + 1, "the app is unaffected");
        std::thread::sleep(Duration::from_millis(30));
        counter("observa_export_errors_total") >= 3.0
    });
    assert!(counter("observa_spans_dropped_total") >= 3.0);
    let outage = lines_with(&logs, "observa.export_outage");
    assert_eq!(
        outage.len(),
        1,
        "one line per outage, not per batch: {outage:?}"
    );
    assert_eq!(outage[0]["level"], "warn");
    assert_eq!(outage[0]["exporter"], "otlp");
    assert!(lines_with(&logs, "observa.export_recovered").is_empty());

    // The collector comes up on that port.
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .expect("rebind the port");
    let bodies = otlp_support::Bodies::default();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(
                |axum::extract::State(b): axum::extract::State<otlp_support::Bodies>,
                 body: axum::body::Bytes| async move {
                    b.lock().unwrap().push(body);
                    ""
                },
            ),
        )
        .with_state(bodies.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    wait_until("a received batch", || {
        sent += 1;
        job(sent);
        std::thread::sleep(Duration::from_millis(30));
        !bodies.lock().unwrap().is_empty()
    });
    wait_until("the recovery line", || {
        !lines_with(&logs, "observa.export_recovered").is_empty()
    });
    // A few more successful batches: still one line each.
    let received = bodies.lock().unwrap().len();
    wait_until("more batches", || {
        sent += 1;
        job(sent);
        std::thread::sleep(Duration::from_millis(30));
        bodies.lock().unwrap().len() >= received + 2
    });
    drop(guard);
    let recovered = lines_with(&logs, "observa.export_recovered");
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0]["level"], "warn");
    assert!(recovered[0]["dropped_spans"].as_u64().unwrap_or(0) >= 3);
    assert!(recovered[0]["failed_batches"].as_u64().unwrap_or(0) >= 3);
    assert_eq!(lines_with(&logs, "observa.export_outage").len(), 1);

    // Span events carry their event id as name.
    let spans = otlp_support::spans(&bodies);
    let events: Vec<&str> = spans
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.name.as_str()))
        .collect();
    assert!(events.contains(&"t.outage_job.completed"), "{events:?}");
    assert!(!events.contains(&"observa.completion"), "{events:?}");
}
