//! Sentry per request, with OTLP export on: the local Sentry stand-in of `sentry_ingest.rs` and
//! the local OTLP collector of `otlp_support` both run on 127.0.0.1.
//!
//! - the `trace_id` tag of an event is the trace id of the exported span of the failing call
//!   (outside a request, and inside a request that came without `traceparent`);
//! - two concurrent requests sent with the same `X-Request-ID` each get only their own
//!   breadcrumbs (they are kept per request, not per client-chosen id).

mod otlp_support;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use observa::http::Failure;
use observa::observed;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

type Inbox = Arc<Mutex<Vec<Vec<u8>>>>;

struct Env {
    app: SocketAddr,
    inbox: Inbox,
    spans: otlp_support::Bodies,
}

static ENV: OnceLock<Env> = OnceLock::new();

#[derive(Debug)]
struct StoreError;

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store failed")
    }
}

impl std::error::Error for StoreError {}

#[observed(event = "jobs.sync")]
fn sync_job(n: u64) -> Result<u64, StoreError> {
    let _ = n;
    Err(StoreError)
}

#[observed(event = "orders.load")]
async fn load(id: u64) -> Result<u64, StoreError> {
    let _ = id;
    Err(StoreError)
}

async fn order(Path(id): Path<u64>) -> Result<String, Failure<StoreError>> {
    Ok(load(id).await?.to_string())
}

/// Both requests of the pair meet here, so their lines interleave.
fn barrier() -> &'static tokio::sync::Barrier {
    static B: OnceLock<tokio::sync::Barrier> = OnceLock::new();
    B.get_or_init(|| tokio::sync::Barrier::new(2))
}

async fn crumbs(Path(tag): Path<String>) -> Result<String, Failure<StoreError>> {
    tracing::info!(step = "one", marker = tag.as_str(), "first step of {tag}");
    barrier().wait().await;
    tracing::info!(step = "two", marker = tag.as_str(), "second step of {tag}");
    barrier().wait().await;
    Err(Failure::new(StoreError))
}

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("runtime");
            let (otlp, spans) = otlp_support::collector(&rt);
            rt.block_on(async move {
                let inbox: Inbox = Arc::default();
                let sentry = Router::new()
                    .route(
                        "/api/{project}/envelope/",
                        post(
                            |axum::extract::State(i): axum::extract::State<Inbox>,
                             body: axum::body::Bytes| async move {
                                i.lock().unwrap().push(body.to_vec());
                                "{}"
                            },
                        ),
                    )
                    .with_state(inbox.clone());
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let sentry_addr = l.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(l, sentry).await.unwrap() });

                let config = observa::Config::from_vars([
                    ("OBSERVA_SERVICE_NAME", "shop".to_owned()),
                    ("SENTRY_DSN", format!("http://publickey@{sentry_addr}/42")),
                    ("OBSERVA_OTLP_ENDPOINT", format!("http://{otlp}")),
                ])
                .expect("config")
                .with_writer(observa::MemoryWriter::new())
                .with_log_level("info");
                let guard = observa::init(config).expect("init");
                std::mem::forget(guard);

                let app = Router::new()
                    .route("/orders/{id}", get(order))
                    .route("/crumbs/{tag}", get(crumbs))
                    .layer(observa::http::layer());
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let app_addr = l.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
                tx.send(Env {
                    app: app_addr,
                    inbox,
                    spans,
                })
                .unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("env")
    })
}

/// Every event payload received so far, once the transport has drained.
fn events() -> Vec<Value> {
    assert!(observa::sentry::flush(Duration::from_secs(10)), "flush");
    let mut out = Vec::new();
    for body in env().inbox.lock().unwrap().iter() {
        let envelope = sentry::Envelope::from_slice(body).expect("envelope");
        for item in envelope.items() {
            if let sentry::protocol::EnvelopeItem::Event(e) = item {
                out.push(serde_json::to_value(e).unwrap());
            }
        }
    }
    out
}

/// The trace id of the exported span named `name` (waits for the batch exporter, bounded).
fn exported_trace_ids(name: &str) -> Vec<String> {
    for _ in 0..200 {
        let ids: Vec<String> = otlp_support::spans(&env().spans)
            .into_iter()
            .filter(|s| s.name == name)
            .map(|s| otlp_support::hex(&s.trace_id))
            .collect();
        if !ids.is_empty() {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Vec::new()
}

fn fetch(paths: &[&str], id: &str) -> Vec<u16> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        // Spawned first, awaited after: the requests are in flight together.
        let calls: Vec<_> = paths
            .iter()
            .map(|p| {
                let c = c.clone();
                let url = format!("http://{}{p}", env().app);
                let id = id.to_owned();
                tokio::spawn(async move {
                    c.get(url)
                        .header("x-request-id", id)
                        .send()
                        .await
                        .expect("request")
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut out = Vec::new();
        for c in calls {
            out.push(c.await.expect("join"));
        }
        out
    })
}

#[test]
fn trace_id_tag_is_the_exported_span_outside_requests() {
    env();
    observa::Context::new()
        .with_correlation_id("job-trace-1")
        .scope(|| assert!(sync_job(3).is_err()));
    let evs: Vec<Value> = events()
        .into_iter()
        .filter(|e| e["tags"]["correlation_id"] == "job-trace-1")
        .collect();
    assert_eq!(evs.len(), 1, "{evs:#?}");
    let tag = evs[0]["tags"]["trace_id"].as_str().expect("trace_id tag");
    let exported = exported_trace_ids("jobs.sync");
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(tag, exported[0]);
}

#[test]
fn trace_id_tag_is_the_exported_span_of_the_cause_in_a_request() {
    assert_eq!(fetch(&["/orders/5"], "req-trace-1"), [500]);
    let evs: Vec<Value> = events()
        .into_iter()
        .filter(|e| e["tags"]["correlation_id"] == "req-trace-1")
        .collect();
    assert_eq!(evs.len(), 1, "{evs:#?}");
    let tag = evs[0]["tags"]["trace_id"].as_str().expect("trace_id tag");
    let exported = exported_trace_ids("orders.load");
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(tag, exported[0]);
}

#[test]
fn concurrent_requests_with_the_same_request_id_keep_their_own_breadcrumbs() {
    assert_eq!(
        fetch(&["/crumbs/alpha", "/crumbs/beta"], "dup-request-id"),
        [500, 500]
    );
    let evs: Vec<Value> = events()
        .into_iter()
        .filter(|e| e["tags"]["correlation_id"] == "dup-request-id")
        .collect();
    assert_eq!(evs.len(), 2, "{evs:#?}");
    let mut seen = Vec::new();
    for e in &evs {
        let crumbs = e["breadcrumbs"]["values"]
            .as_array()
            .or_else(|| e["breadcrumbs"].as_array())
            .cloned()
            .unwrap_or_default();
        let markers: Vec<&str> = crumbs
            .iter()
            .filter_map(|c| c["data"]["marker"].as_str())
            .collect();
        assert_eq!(markers.len(), 2, "{crumbs:#?}");
        assert!(markers[0] == markers[1], "mixed breadcrumbs: {markers:?}");
        seen.push(markers[0].to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["alpha", "beta"]);
}
