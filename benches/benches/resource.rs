//! Overhead of per-request resource tracking (`observa::resource`), off against on, in one run.
//!
//! The binary installs `observa::resource::CountingAlloc` as its global allocator (the opt-in a
//! user makes to get `alloc_bytes`), so both sides pay its per-allocation add; the difference is
//! the measurement itself: thread CPU clock, allocation counter and `/proc/thread-self/io` read
//! at the start and end of every poll, the fields on the line and the histograms.
//!
//! Criterion ids:
//! - `resource/observed_off` / `resource/observed_on`: a sync `#[observed]` fn that allocates a
//!   little, with `Policy::Off` / `Policy::Always` (pipeline installed, lines into `io::sink()`).
//! - `resource/http_off` / `resource/http_on`: one GET through observa's layer on a real axum
//!   server on 127.0.0.1 (reqwest client), with `Policy::Off` / `Policy::Always`.

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use observa::resource::{CountingAlloc, Policy};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[observa::observed(event = "bench.resource")]
#[inline(never)]
fn observed_work(x: u64) -> u64 {
    let v: Vec<u64> = (0..16).map(|i| black_box(x) ^ i).collect();
    v.iter().sum()
}

fn server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/work", get(|| async { observed_work(7).to_string() }))
                .layer(observa::http::layer());
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn bench(c: &mut Criterion) {
    let guard = observa::init(
        observa::Config::new("bench-resource")
            .with_writer(std::io::sink())
            .with_log_level("info"),
    )
    .unwrap();
    let mut g = c.benchmark_group("resource");
    for (name, policy) in [
        ("observed_off", Policy::Off),
        ("observed_on", Policy::Always),
    ] {
        observa::resource::set_policy(policy).unwrap();
        g.bench_function(name, |b| b.iter(|| observed_work(black_box(3))));
    }
    let addr = server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/work");
    g.measurement_time(Duration::from_secs(5));
    for (name, policy) in [("http_off", Policy::Off), ("http_on", Policy::Always)] {
        observa::resource::set_policy(policy).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client.get(&url).send().await.unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap()
                })
            })
        });
    }
    observa::resource::set_policy(Policy::Off).unwrap();
    g.finish();
    drop(guard);
}

criterion_group!(benches, bench);
criterion_main!(benches);
