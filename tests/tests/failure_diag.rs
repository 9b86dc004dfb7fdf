//! Failure diagnostics end to end: a real axum server on 127.0.0.1 and a real client; a panic in
//! a handler or in an `#[observed]` call writes its message (scrubbed, neutralised, bounded) and
//! a bounded backtrace on the one ERROR line while the 500 body carries only the request id; a
//! handler returning `Failure<E>` gets its error chain on the request's line without wiring;
//! 4xx stay at DEBUG/INFO with neither.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use observa::http::Failure;
use observa::observed;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static LOGS: OnceLock<observa::MemoryWriter> = OnceLock::new();
static APP: OnceLock<SocketAddr> = OnceLock::new();

const CANARY_PW: &str = "canaryPanicPw77";
const CANARY_TOKEN: &str = "canaryPanicTok88";

#[derive(Debug)]
struct DbError {
    source: std::io::Error,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the order failed")
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn load(id: u64) -> Result<String, DbError> {
    match id {
        0 => Err(DbError {
            source: std::io::Error::other(format!(
                "connect postgres://app:{CANARY_PW}@db:5432/orders refused"
            )),
        }),
        _ => Ok(format!("order-{id}")),
    }
}

/// The natural handler: `?` an error into `Failure`.
async fn order(Path(id): Path<u64>) -> Result<String, Failure<DbError>> {
    Ok(load(id)?)
}

async fn missing() -> Result<String, Failure<DbError>> {
    Err(Failure::new(DbError {
        source: std::io::Error::other("no such order"),
    })
    .with_status(axum::http::StatusCode::NOT_FOUND))
}

async fn handler_panics() -> &'static str {
    panic!(
        "boom at https://svc:{CANARY_PW}@upstream/x?token={CANARY_TOKEN}&page=2 \u{1b}[31mred\r\nfake line"
    );
}

#[observed(event = "diag.compute", fields(n))]
fn compute(n: u64) -> u64 {
    if n == 13 {
        panic!("unlucky number {n}, api_key={CANARY_TOKEN}");
    }
    n * 2
}

async fn observed_panics(Path(n): Path<u64>) -> String {
    compute(n).to_string()
}

async fn long_panic() -> &'static str {
    panic!("{}", "x".repeat(10_000));
}

fn setup() -> SocketAddr {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(
            observa::Config::new("diag")
                .with_writer(w.clone())
                .with_log_level("debug")
                .with_panic_backtrace(true),
        )
        .expect("init");
        std::mem::forget(guard);
        w
    });
    *APP.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = Router::new()
                    .route("/orders/{id}", get(order))
                    .route("/missing", get(missing))
                    .route("/panic", get(handler_panics))
                    .route("/long-panic", get(long_panic))
                    .route("/compute/{n}", get(observed_panics))
                    .layer(observa::http::layer());
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(l.local_addr().expect("addr")).expect("send");
                axum::serve(l, app).await.expect("serve");
            });
        });
        rx.recv().expect("addr")
    })
}

fn get_path(path: &str, id: &str) -> (u16, String) {
    let url = format!("http://{}{path}", setup());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .header("x-request-id", id)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.text().await.expect("body"))
    })
}

fn lines_for(id: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<Value> = LOGS
            .get()
            .unwrap()
            .contents()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
            .filter(|v| v["correlation_id"] == id)
            .collect();
        if pred(&got) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn raw() -> String {
    LOGS.get().unwrap().contents()
}

#[test]
fn handler_panic_line_has_message_and_backtrace_body_only_the_id() {
    let (status, body) = get_path("/panic", "diag-panic-1");
    assert_eq!(status, 500);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "internal_error", "request_id": "diag-panic-1"})
    );
    let lines = lines_for("diag-panic-1", |l| {
        l.iter().any(|v| v["event"] == "request.failed")
    });
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "request.failed")
        .collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    let line = failed[0];
    assert_eq!(line["level"], "error");
    assert_eq!(line["outcome"], "panic");
    let error = line["error"].as_str().unwrap();
    assert!(
        error.starts_with("boom at https://upstream/x?token=[REDACTED]&page=2"),
        "{error}"
    );
    assert!(
        error.contains("(at tests/tests/failure_diag.rs:"),
        "{error}"
    );
    let bt = line["backtrace"].as_str().expect("backtrace");
    assert!(bt.contains("handler_panics"), "{bt}");
    assert!(bt.len() <= observa::failure::MAX_BACKTRACE_BYTES + 64);
    let text = raw();
    assert!(!text.contains(CANARY_PW) && !text.contains(CANARY_TOKEN));
    // Neutralised: the escape and the line break never reach the sink raw.
    let raw_line = text
        .lines()
        .find(|l| l.contains("diag-panic-1") && l.contains("request.failed"))
        .unwrap();
    assert!(!raw_line.contains('\u{1b}') && !raw_line.contains('\r'));
}

#[test]
fn observed_panic_inside_a_handler_has_its_message_on_its_line() {
    let (status, _) = get_path("/compute/13", "diag-obs-1");
    assert_eq!(status, 500);
    let lines = lines_for("diag-obs-1", |l| {
        l.iter().any(|v| v["event"] == "request.failed")
            && l.iter().any(|v| v["event"] == "diag.compute.failed")
    });
    let call = lines
        .iter()
        .find(|v| v["event"] == "diag.compute.failed")
        .expect("call line");
    assert_eq!(call["outcome"], "panic");
    assert_eq!(call["level"], "error");
    assert_eq!(call["n"], 13);
    let error = call["error"].as_str().unwrap();
    assert!(
        error.starts_with("unlucky number 13, api_key=[REDACTED] (at "),
        "{error}"
    );
    assert!(call["backtrace"].as_str().unwrap().contains("compute"));
    let req = lines
        .iter()
        .find(|v| v["event"] == "request.failed")
        .unwrap();
    assert!(
        req["error"]
            .as_str()
            .unwrap()
            .starts_with("unlucky number 13")
    );
    assert!(!raw().contains(CANARY_TOKEN));
}

#[test]
fn a_long_panic_message_is_bounded() {
    let (status, _) = get_path("/long-panic", "diag-long-1");
    assert_eq!(status, 500);
    let lines = lines_for("diag-long-1", |l| !l.is_empty());
    let error = lines[0]["error"].as_str().unwrap();
    assert!(
        error.len() < observa::failure::MAX_PANIC_MESSAGE + 200,
        "{}",
        error.len()
    );
    assert!(error.contains("…[truncated]"));
}

#[test]
fn failure_wrapper_puts_the_chain_on_the_line_and_nothing_in_the_body() {
    let (status, body) = get_path("/orders/0", "diag-fail-1");
    assert_eq!(status, 500);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "internal_error", "request_id": "diag-fail-1"})
    );
    let lines = lines_for("diag-fail-1", |l| !l.is_empty());
    let line = &lines[0];
    assert_eq!(line["event"], "request.failed");
    assert_eq!(line["level"], "error");
    assert_eq!(line["error_type"], "DbError");
    assert_eq!(
        line["error"],
        "loading the order failed: connect postgres://db:5432/orders refused"
    );
    assert!(line.get("backtrace").is_none());
    assert!(!raw().contains(CANARY_PW));
    // A success through the same handler.
    assert_eq!(
        get_path("/orders/5", "diag-ok-1"),
        (200, "order-5".to_owned())
    );
}

#[test]
fn client_errors_stay_quiet() {
    let (status, body) = get_path("/missing", "diag-404-1");
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "not_found", "request_id": "diag-404-1"})
    );
    let lines = lines_for("diag-404-1", |l| !l.is_empty());
    let line = &lines[0];
    assert_eq!(line["event"], "request.completed");
    assert_eq!(line["level"], "debug");
    assert_eq!(line["outcome"], "client_error");
    assert!(
        line.get("error").is_none() && line.get("backtrace").is_none(),
        "{line}"
    );
}
