//! Sentry end to end: a real HTTP server on 127.0.0.1 stands in for the ingest endpoint (the DSN
//! points at it), a real axum app with observa's layer is called by a real client, and the
//! envelopes observa's transport posted are decoded (by hand: the newline-delimited envelope
//! header, item header and JSON payload; and by the `sentry` crate's own parser) and checked:
//! tags, exceptions, breadcrumbs, what is never sent, and the canary harness over every byte.

mod redact_support;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use observa::http::Failure;
use observa::observed;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const CANARY_URL_PW: &str = "CanaryUrlPw51x";
const CANARY_TOKEN: &str = "CanaryTokQ82z";
const CANARY_CRUMB: &str = "CanaryCrumbK4t";
const CANARY_COOKIE: &str = "CanaryCookieH7w";
const CANARY_AUTH: &str = "CanaryAuthR3m";
const CANARY_FIELD: &str = "CanaryFieldP9d";
const CANARY_PANIC: &str = "CanaryPanicV6n";

/// One POST the fake ingest endpoint received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    auth: String,
    encoding: Option<String>,
    body: Vec<u8>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

struct Env {
    app: SocketAddr,
    inbox: Inbox,
}

static ENV: OnceLock<Env> = OnceLock::new();

#[derive(Debug)]
struct StoreError {
    source: std::io::Error,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("order store failed")
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[derive(Debug, observa::Classify)]
#[classify(client)]
enum Rejected {
    NotFound,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for Rejected {}

#[observed(event = "orders.load", fields(id, password))]
async fn load_order(id: u64, password: String) -> Result<String, StoreError> {
    let _ = password;
    if id == 0 {
        return Err(StoreError {
            source: std::io::Error::other(format!(
                "GET https://svc:{CANARY_URL_PW}@store/orders?token={CANARY_TOKEN}&id=0: 503"
            )),
        });
    }
    Ok(format!("order-{id}"))
}

#[observed(event = "orders.find")]
async fn find(id: u64) -> Result<String, Rejected> {
    let _ = id;
    Err(Rejected::NotFound)
}

async fn order(Path(id): Path<u64>) -> Result<String, Failure<StoreError>> {
    observa::context::bind(Some("acme"), Some("u-17"));
    tracing::info!(
        password = CANARY_CRUMB,
        step = "lookup",
        "loading the order"
    );
    Ok(load_order(id, CANARY_FIELD.to_owned()).await?)
}

async fn missing() -> Result<String, Failure<Rejected>> {
    find(1)
        .await
        .map_err(|e| Failure::new(e).with_status(axum::http::StatusCode::NOT_FOUND))
}

async fn boom() -> &'static str {
    panic!("render failed, session={CANARY_PANIC}");
}

#[observed(event = "sync.run", tenant)]
fn sync_run(tenant: &str) -> Result<(), StoreError> {
    let _ = tenant;
    Err(StoreError {
        source: std::io::Error::other("replica lag"),
    })
}

async fn ingest(
    Path(project): Path<String>,
    headers: axum::http::HeaderMap,
    axum::extract::State(inbox): axum::extract::State<Inbox>,
    body: axum::body::Bytes,
) -> &'static str {
    inbox.lock().unwrap().push(Received {
        path: format!("/api/{project}/envelope/"),
        auth: headers
            .get("x-sentry-auth")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        encoding: headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    });
    "{}"
}

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let inbox: Inbox = Arc::default();
                let sentry = Router::new()
                    .route("/api/{project}/envelope/", post(ingest))
                    .with_state(inbox.clone());
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let sentry_addr = l.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(l, sentry).await.unwrap() });

                // Configured the way a deployment does it: `SENTRY_DSN` and `OBSERVA_SENTRY_*`.
                let config = observa::Config::from_vars([
                    ("OBSERVA_SERVICE_NAME", "shop".to_owned()),
                    ("SENTRY_DSN", format!("http://publickey@{sentry_addr}/42")),
                    ("OBSERVA_SENTRY_ENVIRONMENT", "staging-eu".to_owned()),
                    ("OBSERVA_SENTRY_RELEASE", "shop@9.9.9-rc1".to_owned()),
                    ("OBSERVA_PANIC_BACKTRACE", "1".to_owned()),
                ])
                .expect("config")
                .with_writer(observa::MemoryWriter::new())
                .with_log_level("info");
                let guard = observa::init(config).expect("init");
                std::mem::forget(guard);

                let app = Router::new()
                    .route("/orders/{id}", get(order))
                    .route("/missing", get(missing))
                    .route("/boom", get(boom))
                    .layer(observa::http::layer());
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let app_addr = l.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
                tx.send(Env {
                    app: app_addr,
                    inbox,
                })
                .unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("env")
    })
}

fn call(path: &str, id: &str) -> u16 {
    let url = format!("http://{}{path}", env().app);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .header("x-request-id", id)
            .header("authorization", format!("Bearer {CANARY_AUTH}"))
            .header("cookie", format!("session={CANARY_COOKIE}"))
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    })
}

/// An envelope decoded by hand: header line, then (item header line, payload) pairs; payloads
/// of `length` bytes when given, else up to the next newline.
fn decode(body: &[u8]) -> (Value, Vec<(Value, Value)>) {
    fn line(b: &[u8]) -> (&[u8], &[u8]) {
        match b.iter().position(|&c| c == b'\n') {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (b, &[]),
        }
    }
    let (head, mut rest) = line(body);
    let header: Value = serde_json::from_slice(head).expect("envelope header");
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (ih, r) = line(rest);
        if ih.is_empty() {
            rest = r;
            continue;
        }
        let item_header: Value = serde_json::from_slice(ih).expect("item header");
        let (payload, r) = match item_header["length"].as_u64() {
            Some(n) => {
                let n = n as usize;
                let r2 = &r[n..];
                (&r[..n], r2.strip_prefix(b"\n").unwrap_or(r2))
            }
            None => line(r),
        };
        items.push((
            item_header,
            serde_json::from_slice(payload).expect("payload"),
        ));
        rest = r;
    }
    (header, items)
}

/// Every event received so far, once the transport has drained.
fn events() -> Vec<Value> {
    assert!(observa::sentry::flush(Duration::from_secs(10)), "flush");
    let inbox = env().inbox.lock().unwrap().clone();
    let mut out = Vec::new();
    for r in &inbox {
        assert_eq!(r.path, "/api/42/envelope/");
        assert!(r.auth.contains("sentry_key=publickey"), "{}", r.auth);
        // observa's transport does not compress: the body is the envelope itself.
        assert_eq!(r.encoding, None);
        // The sentry crate's own parser accepts it too.
        sentry::Envelope::from_slice(&r.body).expect("sentry parses the envelope");
        let (_, items) = decode(&r.body);
        for (h, p) in items {
            if h["type"] == "event" {
                out.push(p);
            }
        }
    }
    out
}

fn event_for(corr: &str) -> Vec<Value> {
    events()
        .into_iter()
        .filter(|e| e["tags"]["correlation_id"] == corr)
        .collect()
}

#[test]
fn a_failed_request_is_one_event_with_tags_cause_and_breadcrumbs() {
    assert_eq!(call("/orders/0", "req-fail-1"), 500);
    let evs = event_for("req-fail-1");
    assert_eq!(evs.len(), 1, "{evs:#?}");
    let e = &evs[0];
    let tags = &e["tags"];
    assert_eq!(tags["tenant_id"], "acme");
    assert_eq!(tags["user_id"], "u-17");
    assert_eq!(tags["route"], "/orders/{id}");
    assert_eq!(tags["method"], "GET");
    assert_eq!(tags["status"], "500");
    assert_eq!(tags["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(tags["event"], "request.failed");
    assert_eq!(tags["cause.event"], "orders.load.failed");
    assert_eq!(tags["cause.error_type"], "StoreError");
    // `error` is the protocol's default level (omitted from the payload).
    assert!(e["level"].is_null() || e["level"] == "error", "{e:#}");
    assert_eq!(e["environment"], "staging-eu");
    assert_eq!(e["release"], "shop@9.9.9-rc1");
    let exc = e["exception"]["values"].as_array().expect("exceptions");
    let value = exc[0]["value"].as_str().unwrap();
    assert_eq!(exc[0]["type"], "StoreError");
    assert!(
        value
            .starts_with("order store failed: GET https://store/orders?token=[REDACTED]&id=0: 503"),
        "{value}"
    );
    // The call's recorded fields (the sensitive one masked at compile time).
    assert_eq!(e["extra"]["id"], 0);
    assert_eq!(e["extra"]["password"], "[REDACTED]");
    // Lines of the same request before the failure, as breadcrumbs; key filter applied.
    let crumbs = e["breadcrumbs"]["values"].as_array().expect("breadcrumbs");
    let c = crumbs
        .iter()
        .find(|c| c["message"] == "loading the order")
        .expect("breadcrumb");
    assert_eq!(c["data"]["password"], "[REDACTED]");
    assert_eq!(c["data"]["step"], "lookup");
    // Never: the request's cookies, headers, body; the host name.
    assert!(
        e.get("request").is_none() && e.get("server_name").is_none(),
        "{e:#}"
    );
}

#[test]
fn a_panic_is_an_event_with_message_and_backtrace() {
    assert_eq!(call("/boom", "req-panic-1"), 500);
    let evs = event_for("req-panic-1");
    assert_eq!(evs.len(), 1, "{evs:#?}");
    let e = &evs[0];
    assert_eq!(e["tags"]["outcome"], "panic");
    assert_eq!(e["tags"]["route"], "/boom");
    let exc = &e["exception"]["values"][0];
    assert_eq!(exc["type"], "panic");
    assert!(
        exc["value"]
            .as_str()
            .unwrap()
            .starts_with("render failed, session=[REDACTED] (at tests/tests/sentry_ingest.rs:"),
        "{exc}"
    );
    assert!(e["extra"]["backtrace"].as_str().unwrap().contains("boom"));
}

#[test]
fn client_errors_send_nothing() {
    assert_eq!(call("/missing", "req-404-1"), 404);
    // Anything the request produced was queued before its response was written; the marker
    // goes after it.
    assert!(observa::sentry::capture_message(
        "marker-404",
        tracing::Level::INFO
    ));
    let all = events();
    assert!(all.iter().any(|e| e["message"] == "marker-404"));
    assert!(
        !all.iter()
            .any(|e| e["tags"]["correlation_id"] == "req-404-1"),
        "{all:#?}"
    );
    assert!(
        !all.iter()
            .any(|e| e["tags"]["event"] == "orders.find.failed")
    );
}

#[test]
fn failures_outside_requests_and_direct_captures() {
    env();
    let ctx = observa::Context::new()
        .with_correlation_id("job-7")
        .with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ctx.scope(|| {
        let _ = sync_run("globex");
        let e = std::io::Error::other(format!("direct, password={CANARY_TOKEN}"));
        assert!(observa::sentry::capture_error(&e));
    });
    let evs = event_for("job-7");
    assert_eq!(evs.len(), 2, "{evs:#?}");
    let job = evs
        .iter()
        .find(|e| e["tags"]["event"] == "sync.run.failed")
        .expect("job event");
    assert_eq!(job["tags"]["tenant_id"], "globex");
    assert_eq!(job["tags"]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(
        job["exception"]["values"][0]["value"],
        "order store failed: replica lag"
    );
    let direct = evs
        .iter()
        .find(|e| e["tags"]["error_type"] == "Error")
        .expect("direct capture");
    assert_eq!(
        direct["exception"]["values"][0]["value"],
        "direct, password=[REDACTED]"
    );
}

#[test]
fn no_canary_reaches_the_endpoint() {
    // Every path that carries a canary, then every byte received.
    call("/orders/0", "req-canary-1");
    call("/boom", "req-canary-2");
    call("/missing", "req-canary-3");
    let e = std::io::Error::other(format!(
        "capture https://u:{CANARY_URL_PW}@h/?api_key={CANARY_TOKEN}"
    ));
    observa::sentry::capture_error(&e);
    assert!(observa::sentry::flush(Duration::from_secs(10)));
    let bodies: Vec<(&'static str, String)> = env()
        .inbox
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            (
                "sentry envelope",
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        })
        .collect();
    assert!(bodies.len() >= 3, "{bodies:?}");
    for canary in [
        CANARY_URL_PW,
        CANARY_TOKEN,
        CANARY_CRUMB,
        CANARY_COOKIE,
        CANARY_AUTH,
        CANARY_FIELD,
        CANARY_PANIC,
    ] {
        redact_support::assert_no_leak(canary, &bodies);
    }
    let stats = observa::sentry::stats();
    assert!(stats.sent >= 3 && stats.failed == 0, "{stats:?}");
}
