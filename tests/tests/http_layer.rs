//! The request layer end to end: a real axum server on 127.0.0.1 (port 0), real clients
//! (reqwest, and raw TCP for header bytes reqwest refuses to send), the real log pipeline
//! captured from its writer and parsed back as JSON, the exposition parsed by a Prometheus
//! parser.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use observa::http::{InvalidRequestId, ResponseError, ValidationErrors};
use observa::observed;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static LOGS: OnceLock<observa::MemoryWriter> = OnceLock::new();

struct Servers {
    app: SocketAddr,
    strict: SocketAddr,
    echo: SocketAddr,
}

static SERVERS: OnceLock<Servers> = OnceLock::new();

fn setup() -> &'static Servers {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(
            observa::Config::new("http-tests")
                .with_writer(w.clone())
                .with_log_level("info,observa::http=debug"),
        )
        .expect("init");
        std::mem::forget(guard);
        w
    });
    SERVERS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let main = serve(app().layer(observa::http::layer())).await;
                let strict =
                    serve(app().layer(
                        observa::http::layer().on_invalid_request_id(InvalidRequestId::Reject),
                    ))
                    .await;
                let echo = serve(Router::new().fallback(any(echo))).await;
                tx.send(Servers {
                    app: main,
                    strict,
                    echo,
                })
                .expect("send");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("servers")
    })
}

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .expect("serve");
    });
    addr
}

fn app() -> Router {
    Router::new()
        .route("/tenants/{tenant}/whoami", get(whoami))
        .route("/fail4", get(|| async { StatusCode404 }))
        .route("/invalid", get(invalid))
        .route("/fail5", get(fail5))
        .route("/panic", get(panics))
        .route("/trace", get(trace))
        .route("/call", get(call))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(observa::http::metrics_handler))
}

struct StatusCode404;

impl IntoResponse for StatusCode404 {
    fn into_response(self) -> Response {
        (axum::http::StatusCode::NOT_FOUND, "no such thing").into_response()
    }
}

async fn whoami(Path(tenant): Path<String>) -> Json<Value> {
    // What an auth middleware does once it knows who is calling.
    observa::context::bind(Some(&tenant), Some(&format!("u-{tenant}")));
    Json(who(&tenant).await)
}

#[observed(event = "whoami", tenant)]
async fn who(tenant: &str) -> Value {
    tokio::task::yield_now().await;
    let c = observa::context::current();
    json!({ "tenant_id": c.tenant_id(), "correlation_id": c.correlation_id(), "arg": tenant })
}

async fn invalid() -> Response {
    let mut v = ValidationErrors::default();
    v.push("email", "invalid_format");
    v.push("age", "out_of_range");
    let mut r = (axum::http::StatusCode::UNPROCESSABLE_ENTITY, "bad input").into_response();
    v.attach(&mut r);
    r
}

#[derive(Debug)]
struct DbError(std::io::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading orders failed")
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

async fn fail5() -> Response {
    let e = DbError(std::io::Error::other("connection reset"));
    let mut r = (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    ResponseError::new("database", &e).attach(&mut r);
    r
}

async fn panics() -> &'static str {
    tokio::task::yield_now().await;
    panic!("handler exploded")
}

async fn trace() -> Json<Value> {
    let c = observa::context::current();
    Json(json!({ "traceparent": c.traceparent(), "correlation_id": c.correlation_id() }))
}

async fn call(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let client = observa::http::outbound::Client::default().provider("echo");
    let resp = client
        .get(q.get("url").cloned().unwrap_or_default())
        .send()
        .await
        .expect("outbound call");
    Json(resp.json_value().await)
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let b = self.bytes().await.expect("body");
        serde_json::from_slice(&b).expect("json body")
    }
}

/// Echoes what it received: method, uri, headers, body.
async fn echo(req: axum::extract::Request) -> Json<Value> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    Json(json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

fn raw_logs() -> String {
    LOGS.get().expect("setup").contents()
}

fn all_lines() -> Vec<Value> {
    raw_logs()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// Waits (the writer is asynchronous) until at least `n` lines match `filter`.
fn wait_lines(filter: impl Fn(&Value) -> bool, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: Vec<Value> = all_lines().into_iter().filter(|v| filter(v)).collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The request lines of correlation id `id` (after giving the writer time to flush them).
fn request_lines(id: &str) -> Vec<Value> {
    let is_req = |v: &Value| {
        v["correlation_id"] == id
            && (v["event"] == "request.completed" || v["event"] == "request.failed")
    };
    let got = wait_lines(is_req, 1);
    // A second line would be a bug: give it a chance to show up.
    std::thread::sleep(Duration::from_millis(50));
    let again = wait_lines(is_req, 1);
    assert_eq!(got.len(), again.len());
    again
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A raw HTTP/1.1 GET with `X-Request-ID: <raw bytes>`; returns (status, echoed id).
async fn raw_get(addr: SocketAddr, header: &[u8], raw: &[u8]) -> (u16, Option<String>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = Vec::new();
    req.extend_from_slice(b"GET /tenants/raw/whoami HTTP/1.1\r\nHost: test\r\n");
    req.extend_from_slice(header);
    req.extend_from_slice(b": ");
    req.extend_from_slice(raw);
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    s.write_all(&req).await.expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .map(str::to_owned);
    (status, id, text)
}

fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Echo,
    Replaced,
    /// hyper refuses the header line itself (400 before the layer): never reaches the app.
    Protocol,
}

const CASES: &[(&str, &[u8], Expect)] = &[
    (
        "uuid",
        b"3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e",
        Expect::Echo,
    ),
    ("nginx hex", b"0af7651916cd43dd8448eb211c80319c", Expect::Echo),
    ("vendor", b"req_01HZX:abc.def-1", Expect::Echo),
    ("overlong", b"CANARYovl0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890", Expect::Replaced),
    ("space", b"CANARYsp ace", Expect::Replaced),
    ("unicode", "CANARYuni-\u{e9}\u{202e}".as_bytes(), Expect::Replaced),
    ("quote", b"CANARYq\"}{", Expect::Replaced),
    ("empty", b"", Expect::Replaced),
    (
        "nil uuid",
        b"00000000-0000-0000-0000-000000000000",
        Expect::Replaced,
    ),
    ("esc", b"CANARYesc\x1b[31m", Expect::Protocol),
    ("control", b"CANARYctl\x01x", Expect::Protocol),
    ("bare cr", b"CANARYcr\rx", Expect::Protocol),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_table_echo_generate_never_log_rejected() {
    let s = setup();
    for (name, raw, expect) in CASES {
        for header in [&b"X-Request-ID"[..], b"X-Correlation-ID"] {
            let (status, id, text) = raw_get(s.app, header, raw).await;
            match expect {
                Expect::Echo => {
                    assert_eq!(status, 200, "{name}: {text}");
                    let id = id.expect("echoed");
                    assert_eq!(id.as_bytes(), *raw, "{name}");
                }
                Expect::Replaced => {
                    assert_eq!(status, 200, "{name}: {text}");
                    let id = id.expect("a fresh id");
                    assert!(is_generated(&id), "{name}: {id}");
                    let lines = request_lines(&id);
                    assert_eq!(lines.len(), 1, "{name}");
                    assert_eq!(lines[0]["request_id_replaced"], true, "{name}");
                    // The handler saw the fresh id too.
                    assert!(text.contains(&id), "{name}");
                }
                Expect::Protocol => assert_eq!(status, 400, "{name}: {text}"),
            }
        }
        // Strict mode: 400 with a fresh id in the body and header.
        let (status, id, text) = raw_get(s.strict, b"X-Request-ID", raw).await;
        match expect {
            Expect::Echo => assert_eq!(status, 200, "{name}"),
            Expect::Replaced => {
                assert_eq!(status, 400, "{name}: {text}");
                let id = id.expect("a fresh id");
                assert!(is_generated(&id));
                assert!(text.contains(&format!(r#""request_id":"{id}""#)), "{text}");
                let lines = request_lines(&id);
                assert_eq!(lines.len(), 1);
                assert_eq!(lines[0]["error_type"], "invalid_request_id");
                assert_eq!(lines[0]["status"], 400);
            }
            Expect::Protocol => assert_eq!(status, 400),
        }
    }
    // No refused raw value, nor any part of it, ever reached a sink.
    std::thread::sleep(Duration::from_millis(200));
    let logs = raw_logs();
    assert!(!logs.contains("CANARY"), "a rejected request id was logged");
    assert!(!logs.contains("00000000-0000-0000-0000-000000000000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_per_request_with_canonical_fields_and_no_secrets() {
    let s = setup();
    let c = client();
    let r = c
        .get(format!(
            "http://{}/tenants/acme/whoami?token=CANARYq",
            s.app
        ))
        .header("x-request-id", "line-1")
        .header("user-agent", "probe/1.0")
        .header("cookie", "session=CANARYcookie")
        .header("authorization", "Bearer CANARYauth")
        .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "line-1");
    let body = r.json_value().await;
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(body["correlation_id"], "line-1");
    let lines = request_lines("line-1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["event"], "request.completed");
    assert_eq!(l["level"], "info");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["route"], "/tenants/{tenant}/whoami");
    assert_eq!(l["status"], 200);
    assert_eq!(l["outcome"], "ok");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["user_id"], "u-acme");
    // No proxy declared: the forwarding header is the client's word, the peer is the client.
    assert_eq!(l["client_ip"], "127.0.0.1");
    assert_eq!(l["user_agent"], "probe/1.0");
    assert!(l["duration_ms"].as_f64().is_some_and(|d| d >= 0.0));
    // The handler's own #[observed] line carries the same correlation id.
    let inner = wait_lines(
        |v| v["event"] == "whoami.completed" && v["correlation_id"] == "line-1",
        1,
    );
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0]["tenant_id"], "acme");
    // Without X-Forwarded-For the peer address is the client ip.
    let r = c
        .get(format!("http://{}/tenants/acme/whoami", s.app))
        .header("x-request-id", "line-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(request_lines("line-2")[0]["client_ip"], "127.0.0.1");
    let logs = raw_logs();
    for canary in ["CANARYcookie", "CANARYauth", "CANARYq"] {
        assert!(!logs.contains(canary), "{canary} leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_errors_validation_panics_and_exclusions() {
    let s = setup();
    let c = client();
    let get = |path: &str, id: &str| {
        c.get(format!("http://{}{path}", s.app))
            .header("x-request-id", id)
            .send()
    };
    let r = get("/fail4", "lv-404").await.unwrap();
    assert_eq!(r.status(), 404);
    let l = &request_lines("lv-404")[0];
    assert_eq!(
        (l["level"].as_str(), l["outcome"].as_str()),
        (Some("debug"), Some("client_error"))
    );
    assert_eq!(l["event"], "request.completed");

    let r = get("/no/such/path/12345", "lv-unmatched").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(request_lines("lv-unmatched")[0]["route"], "unmatched");

    let r = get("/invalid", "lv-422").await.unwrap();
    assert_eq!(r.status(), 422);
    let l = &request_lines("lv-422")[0];
    assert_eq!(l["level"], "info");
    assert_eq!(
        l["errors"],
        json!([{"field":"email","code":"invalid_format"},{"field":"age","code":"out_of_range"}])
    );

    let r = get("/fail5", "lv-500").await.unwrap();
    assert_eq!(r.status(), 500);
    let l = &request_lines("lv-500")[0];
    assert_eq!(l["event"], "request.failed");
    assert_eq!(l["level"], "error");
    assert_eq!(l["error"], "loading orders failed: connection reset");
    assert_eq!(l["error_type"], "database");

    let r = get("/panic", "lv-panic").await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["x-request-id"], "lv-panic");
    let body = r.json_value().await;
    assert_eq!(
        body,
        json!({"error": "internal_error", "request_id": "lv-panic"})
    );
    let lines = request_lines("lv-panic");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "request.failed");
    assert_eq!(lines[0]["outcome"], "panic");
    // The panic message is on the line (issue 10: scrubbed, neutralised and bounded like any
    // error text), never in the body.
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("handler exploded (at tests/tests/http_layer.rs:"),
        "{lines:?}"
    );

    // Excluded: an id is still echoed, but no line.
    for p in ["/health", "/metrics"] {
        let id = format!("lv-excluded{}", p.replace('/', "-"));
        let r = get(p, &id).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-request-id"], id.as_str());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            all_lines()
                .iter()
                .all(|v| v["correlation_id"] != id.as_str()),
            "{p} logged"
        );
    }
    let r = get("/metrics", "m").await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_continues_into_handler_and_outbound_calls() {
    let s = setup();
    let c = client();
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = c
        .get(format!("http://{}/trace", s.app))
        .header("traceparent", tp)
        .header("x-request-id", "tp-1")
        .send()
        .await
        .unwrap();
    let body = r.json_value().await;
    assert_eq!(body["traceparent"], tp);
    assert_eq!(
        request_lines("tp-1")[0]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );

    // Through the handler's outbound client to the echo server.
    let url = format!("http://{}/v1/things/42", s.echo);
    let r = c
        .get(format!("http://{}/call?url={url}", s.app))
        .header("traceparent", tp)
        .header("x-request-id", "tp-2")
        .send()
        .await
        .unwrap();
    let echoed = r.json_value().await;
    let sent_tp = echoed["headers"]["traceparent"].as_str().unwrap();
    let parsed = observa::http::TraceParent::parse(sent_tp).expect("valid traceparent");
    assert_eq!(parsed.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(sent_tp, tp, "a fresh parent id");
    assert_eq!(echoed["headers"]["x-request-id"], "tp-2");

    // A malformed traceparent is ignored, not echoed into the context.
    let r = c
        .get(format!("http://{}/trace", s.app))
        .header("traceparent", "00-CANARYtp-zz-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json_value().await["traceparent"], Value::Null);
    assert!(!raw_logs().contains("CANARYtp"));
}

/// 10,000 requests, 64 in flight, every one with its own tenant and id; every 97th panics and
/// every 89th fails: each response, line and metric belongs to its own request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_requests_without_cross_talk() {
    let s = setup();
    const N: usize = 10_000;
    const W: usize = 64;
    let c = client();
    let base = format!("http://{}", s.app);
    let mut tasks = Vec::new();
    for w in 0..W {
        let c = c.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..N).step_by(W) {
                let id = format!("xt-{i}");
                let (path, kind) = if i.is_multiple_of(97) {
                    ("/panic".to_owned(), 1)
                } else if i.is_multiple_of(89) {
                    ("/fail5".to_owned(), 2)
                } else {
                    (format!("/tenants/t{i}/whoami"), 0)
                };
                let r = c
                    .get(format!("{base}{path}"))
                    .header("x-request-id", &id)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(r.headers()["x-request-id"], id.as_str());
                let status = r.status().as_u16();
                match kind {
                    0 => {
                        assert_eq!(status, 200);
                        let b = r.json_value().await;
                        assert_eq!(b["tenant_id"], format!("t{i}"));
                        assert_eq!(b["correlation_id"], id);
                        assert_eq!(b["arg"], format!("t{i}"));
                    }
                    1 => {
                        assert_eq!(status, 500);
                        assert_eq!(r.json_value().await["request_id"], id);
                    }
                    _ => assert_eq!(status, 500),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let lines = wait_lines(
        |v| {
            v["correlation_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("xt-"))
                && v["event"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("request."))
        },
        N,
    );
    assert_eq!(lines.len(), N, "exactly one request line per request");
    let mut seen = HashSet::new();
    for l in &lines {
        let id = l["correlation_id"].as_str().unwrap();
        assert!(seen.insert(id.to_owned()), "two lines for {id}");
        let i: usize = id[3..].parse().unwrap();
        if i.is_multiple_of(97) {
            assert_eq!(l["outcome"], "panic");
            assert_eq!(l["route"], "/panic");
            assert!(l.get("tenant_id").is_none(), "{l}");
        } else if i.is_multiple_of(89) {
            assert_eq!(l["status"], 500);
            assert!(l.get("tenant_id").is_none(), "{l}");
        } else {
            assert_eq!(l["tenant_id"], format!("t{i}"), "{l}");
            assert_eq!(l["user_id"], format!("u-t{i}"), "{l}");
            assert_eq!(l["status"], 200);
        }
    }
    let ok_count = (0..N)
        .filter(|i| !i.is_multiple_of(97) && !i.is_multiple_of(89))
        .count();
    let inner = wait_lines(
        |v| {
            v["event"] == "whoami.completed"
                && v["correlation_id"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("xt-"))
        },
        ok_count,
    );
    for l in &inner {
        let i: usize = l["correlation_id"].as_str().unwrap()[3..].parse().unwrap();
        assert_eq!(l["tenant_id"], format!("t{i}"), "{l}");
    }
    assert_eq!(inner.len(), ok_count);

    // Metrics: route templates only, the counts add up. (Parsed by hand: prometheus-parse
    // skips label values that contain braces, such as route templates.)
    let text = observa::metrics::render();
    let label = |line: &str, key: &str| -> String {
        let start = line.find(&format!("{key}=\"")).map(|p| p + key.len() + 2);
        start
            .and_then(|s| line[s..].find('"').map(|e| line[s..s + e].to_owned()))
            .unwrap_or_default()
    };
    let mut by_route: HashMap<(String, String), f64> = HashMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
    {
        let route = label(line, "route");
        assert!(
            !route.contains("/t1"),
            "a tenant leaked into a label: {route}"
        );
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *by_route.entry((route, label(line, "status"))).or_default() += v;
    }
    let ok = by_route
        .get(&("/tenants/{tenant}/whoami".to_owned(), "200".to_owned()))
        .copied()
        .unwrap_or_else(|| panic!("{by_route:?}"));
    assert!(ok >= (ok_count) as f64, "{ok}");
    let panics = (0..N).filter(|i| i.is_multiple_of(97)).count();
    assert!(by_route[&("/panic".to_owned(), "500".to_owned())] >= panics as f64);
    assert!(text.contains("http_requests_in_flight "));
    assert!(!text.contains("observa_log_dropped_total 1"));
}
