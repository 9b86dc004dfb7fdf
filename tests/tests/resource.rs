//! Per-request resource use: a real axum server on 127.0.0.1 behind observa's layer, a real
//! client, observa's counting allocator installed as this binary's global allocator, the
//! request lines captured and parsed back, the histograms read from the exposition.
//!
//! One test function: the process-wide policy is switched in steps.

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use observa::observed;
use observa::resource::{CountingAlloc, Policy};
use serde_json::Value;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

mod log_support;

const MIB: usize = 1 << 20;
const IO: usize = 256 * 1024;

/// Work the request does on its own thread: CPU, a 1 MiB allocation, 256 KiB written to and
/// read back from a real file.
#[observed(event = "work.crunch")]
fn crunch(tag: u64) -> u64 {
    let v = vec![tag as u8; MIB];
    let mut x = 0u64;
    for (i, b) in v.iter().enumerate().step_by(7) {
        x = x.wrapping_mul(31).wrapping_add(*b as u64 ^ i as u64);
    }
    let mut f = tempfile();
    f.write_all(&vec![1u8; IO]).expect("write");
    f.flush().expect("flush");
    f.rewind().expect("rewind");
    let mut back = Vec::with_capacity(IO);
    f.read_to_end(&mut back).expect("read");
    std::hint::black_box(x) ^ back.len() as u64
}

fn tempfile() -> std::fs::File {
    let p = std::env::temp_dir().join(format!(
        "observa-resource-{}-{}",
        std::process::id(),
        observa_rand()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)
        .expect("temp file");
    let _ = std::fs::remove_file(&p);
    f
}

fn observa_rand() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn work(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> String {
    let tag = q.get("tag").and_then(|t| t.parse().ok()).unwrap_or(0);
    // Spread over several polls: every poll is measured and summed.
    tokio::task::yield_now().await;
    let r = crunch(tag);
    tokio::task::yield_now().await;
    r.to_string()
}

async fn start() -> SocketAddr {
    serve(
        observa::http::layer()
            .resource_tracking_header(HeaderName::from_static("x-debug-resource-tracking"), |h| {
                h.get("x-admin-token").is_some_and(|v| v == "admin-ok")
            }),
    )
    .await
}

async fn serve(layer: observa::http::RequestLayer) -> SocketAddr {
    let app = Router::new().route("/work", get(work)).layer(layer);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await.expect("serve") });
    addr
}

async fn get_work(addr: SocketAddr, tag: u64, headers: &[(&str, &str)]) {
    let client = reqwest::Client::new();
    let mut req = client.get(format!("http://{addr}/work?tag={tag}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("send");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("body");
}

fn request_line(rid: &str) -> Value {
    log_support::wait_lines(
        |l| l["event"] == "request.completed" && l["correlation_id"] == rid,
        |l| !l.is_empty(),
    )
    .into_iter()
    .next()
    .unwrap_or_else(|| panic!("no request line for {rid}:\n{}", log_support::raw()))
}

fn call_line(rid: &str) -> Value {
    log_support::wait_lines(
        |l| l["event"] == "work.crunch.completed" && l["correlation_id"] == rid,
        |l| !l.is_empty(),
    )
    .into_iter()
    .next()
    .unwrap_or_else(|| panic!("no call line for {rid}"))
}

fn untracked(l: &Value) -> bool {
    ["cpu_ms", "alloc_bytes", "io_read_bytes", "io_write_bytes"]
        .iter()
        .all(|k| l.get(*k).is_none())
}

fn assert_tracked(l: &Value) {
    assert!(l["cpu_ms"].as_f64().is_some_and(|v| v > 0.0), "{l}");
    let alloc = l["alloc_bytes"].as_u64().unwrap_or(0);
    assert!(alloc >= MIB as u64, "1 MiB allocated inside: {l}");
    assert!(
        l["io_write_bytes"].as_u64().unwrap_or(0) >= IO as u64,
        "{l}"
    );
    assert!(l["io_read_bytes"].as_u64().unwrap_or(0) >= IO as u64, "{l}");
}

fn histogram_count(name: &str, labels: &str) -> f64 {
    let key = format!("{name}_count{{{labels}}} ");
    observa::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_is_off_by_default_on_for_allowed_header_and_by_policy() {
    log_support::capture("resource-tests", "info");
    let addr = start().await;

    // 1. Off: no figures.
    get_work(addr, 1, &[("x-request-id", "res-off")]).await;
    assert!(untracked(&request_line("res-off")));
    assert!(untracked(&call_line("res-off")));

    // 2. The header without the application's permission: still off.
    get_work(
        addr,
        2,
        &[
            ("x-request-id", "res-denied"),
            ("x-debug-resource-tracking", "1"),
            ("x-admin-token", "nope"),
        ],
    )
    .await;
    assert!(untracked(&request_line("res-denied")));

    // 2b. The application's check panics: the request is served, untracked.
    let panicky =
        serve(observa::http::layer().resource_tracking_header(
            HeaderName::from_static("x-debug-resource-tracking"),
            |_| panic!("check failed"),
        ))
        .await;
    get_work(
        panicky,
        2,
        &[
            ("x-request-id", "res-check-panics"),
            ("x-debug-resource-tracking", "1"),
        ],
    )
    .await;
    assert!(untracked(&request_line("res-check-panics")));

    // 3. The header, allowed: the request and the call inside it are measured.
    let before = histogram_count("http_request_cpu_seconds", "method=\"GET\",route=\"/work\"");
    get_work(
        addr,
        3,
        &[
            ("x-request-id", "res-admin"),
            ("x-debug-resource-tracking", "true"),
            ("x-admin-token", "admin-ok"),
        ],
    )
    .await;
    let req = request_line("res-admin");
    assert_tracked(&req);
    let call = call_line("res-admin");
    assert_tracked(&call);
    assert_eq!(
        histogram_count("http_request_cpu_seconds", "method=\"GET\",route=\"/work\""),
        before + 1.0
    );
    assert!(
        histogram_count(
            "http_request_io_bytes",
            "direction=\"write\",method=\"GET\",route=\"/work\""
        ) >= 1.0,
        "{}",
        observa::metrics::render()
    );
    assert!(histogram_count("observa_call_alloc_bytes", "event=\"work.crunch\"") >= 1.0);

    // 4. Policy `Always`: every request, no header needed; a call outside any request too.
    observa::resource::set_policy(Policy::Always).expect("policy");
    get_work(addr, 4, &[("x-request-id", "res-always")]).await;
    assert_tracked(&request_line("res-always"));
    observa::Context::new()
        .with_correlation_id("res-bare-call")
        .scope(|| crunch(5));
    assert_tracked(&call_line("res-bare-call"));

    // 5. Sampled at 1.0 picks everything; back to off picks nothing.
    observa::resource::set_policy(Policy::Sampled(1.0)).expect("policy");
    get_work(addr, 6, &[("x-request-id", "res-sampled")]).await;
    assert_tracked(&request_line("res-sampled"));
    observa::resource::set_policy(Policy::Off).expect("policy");
    get_work(addr, 7, &[("x-request-id", "res-off-again")]).await;
    assert!(untracked(&request_line("res-off-again")));
}
