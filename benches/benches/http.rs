//! Per-request cost of the observa layer against tower-http `TraceLayer`, `SetRequestIdLayer` and
//! `PropagateRequestIdLayer` on the same axum app, in the same run, with a real reqwest client
//! on loopback (one request in flight: the figure is latency per request).
//!
//! Fairness: both stacks write their lines through the same pipeline (observa's installed
//! `tracing` subscriber, JSON, into `io::sink()`), so the difference is the layer itself: the
//! TraceLayer is set to INFO so that its span and response event are enabled like observa's
//! `request.completed` line. The `bare` app (no layer) gives the floor.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use std::net::SocketAddr;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

async fn whoami(Path(tenant): Path<String>) -> axum::Json<serde_json::Value> {
    observa::context::bind(Some(&tenant), None);
    axum::Json(serde_json::json!({ "tenant_id": tenant }))
}

fn app() -> Router {
    Router::new().route("/tenants/{tenant}/whoami", get(whoami))
}

fn servers() -> (SocketAddr, SocketAddr, SocketAddr) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let bare = serve(app()).await;
            let observa = serve(app().layer(observa::http::layer())).await;
            let x_request_id = axum::http::HeaderName::from_static("x-request-id");
            let tower = serve(
                app()
                    .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
                    .layer(
                        TraceLayer::new_for_http()
                            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                            .on_response(DefaultOnResponse::new().level(Level::INFO)),
                    )
                    .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid)),
            )
            .await;
            tx.send((bare, observa, tower)).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    addr
}

fn bench(c: &mut Criterion) {
    let guard = observa::init(
        observa::Config::new("bench-http")
            .with_writer(std::io::sink())
            .with_log_level("info"),
    )
    .unwrap();
    let (bare, obs, tower) = servers();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let mut g = c.benchmark_group("http_request");
    g.measurement_time(Duration::from_secs(5));
    for (name, addr) in [
        ("bare_axum", bare),
        ("observa_layer", obs),
        ("tower_http_trace_request_id", tower),
    ] {
        let url = format!("http://{addr}/tenants/acme/whoami");
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client
                        .get(&url)
                        .header("x-request-id", "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e")
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap()
                })
            })
        });
    }
    g.finish();
    drop(guard);
}

criterion_group!(benches, bench);
criterion_main!(benches);
