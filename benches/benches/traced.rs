//! Traced calls with spans exported over OTLP/HTTP to a local receiver, in one run (issue #14).
//!
//! The receiver is a real HTTP server on 127.0.0.1 (axum, its own runtime thread, no body size
//! limit) that accepts `POST /v1/traces`, reads the span names of each body from the protobuf
//! wire format (a cheap walk, not a full decode) and counts the spans by name and the bytes. Every exporter really encodes and sends; each uses the batch
//! setup a user would. Every variant is the tenant-bound `fn(tenant: &str, x: u64)` around the
//! same `work` as `observed.rs`; criterion ids `traced/<id>`:
//!
//! - `bare`: the fn alone.
//! - `observa_tenant_full`: `#[observed(tenant)]` with `observa::init` given an OTLP endpoint
//!   (`Config::otlp_endpoint`, the field behind `OBSERVA_OTLP_ENDPOINT`; sample ratio 1.0): a
//!   root span per call exported through observa's batch exporter, plus the JSON line into
//!   `io::sink()` and the metrics.
//! - `tracing_otel_json_prometheus`: `#[tracing::instrument(skip_all, fields(tenant = %tenant))]`
//!   with `info!` and hand-written prometheus, under a registry with `tracing-opentelemetry` (batch
//!   `SdkTracerProvider`, `opentelemetry-otlp` HTTP/protobuf, blocking reqwest client) and the fmt
//!   JSON layer into `io::sink()`: the hand-assembled stack with export on.
//! - `tracing_otel_span`: the same span alone (`tracing-opentelemetry` only; no line, no metrics).
//! - `fastrace_root`: `fastrace::Span::root` per call with the tenant as a property, made the
//!   local parent, around the call; `fastrace-opentelemetry`'s reporter with the same
//!   `opentelemetry-otlp` HTTP exporter (fastrace's own collector thread batches).
//!
//! Calls made (criterion's iterations, warm-up included) and spans received per variant are
//! saved in `criterion/traced-counts.json` after every exporter is flushed: a span queue that
//! overflows drops spans, which makes calls cheaper, so the counts say what each row exported.
//! Before the criterion rows, each variant also runs paced (one call per ~50 us, each call timed
//! alone; `paced` in the counts file), where no exporter should drop.

use criterion::{Criterion, criterion_group, criterion_main};
use fastrace::prelude::{Span as FSpan, SpanContext as FSpanContext};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use prometheus::{Histogram, HistogramOpts, IntCounter, Opts};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
        ^ 0x5bd1_e995
}

#[inline(never)]
fn bare(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant)]
#[inline(never)]
fn observa_traced(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

static HAND_CALLS: LazyLock<IntCounter> = LazyLock::new(|| {
    let c = IntCounter::with_opts(Opts::new("hand_calls_total", "calls")).unwrap();
    prometheus::default_registry()
        .register(Box::new(c.clone()))
        .unwrap();
    c
});

static HAND_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    let h = Histogram::with_opts(HistogramOpts::new(
        "hand_duration_seconds",
        "duration in seconds",
    ))
    .unwrap();
    prometheus::default_registry()
        .register(Box::new(h.clone()))
        .unwrap();
    h
});

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
#[inline(never)]
fn tracing_traced(tenant: &str, x: u64) -> u64 {
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    tracing::info!(
        event = "tracing_traced.completed",
        duration_ms = elapsed.as_secs_f64() * 1e3,
        outcome = "ok"
    );
    r
}

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
#[inline(never)]
fn tracing_span_only(tenant: &str, x: u64) -> u64 {
    work(x)
}

#[inline(never)]
fn fastrace_traced(tenant: &str, x: u64) -> u64 {
    let root = FSpan::root("fastrace_traced", FSpanContext::random())
        .with_property(|| ("tenant", tenant.to_owned()));
    let _parent = root.set_local_parent();
    work(x)
}

/// Spans received by name, and bytes.
#[derive(Default)]
struct Received {
    spans: BTreeMap<String, u64>,
    bytes: u64,
    requests: u64,
}

/// Reads a protobuf varint at `*i`.
fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*i)?;
        *i += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Calls `f(field, bytes)` for every length-delimited field of the protobuf message `b`, skipping
/// the others; `None` if `b` is not a valid message.
fn each_field<'a>(b: &'a [u8], mut f: impl FnMut(u64, &'a [u8]) -> Option<()>) -> Option<()> {
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i)?;
        match key & 7 {
            0 => {
                varint(b, &mut i)?;
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let n = usize::try_from(varint(b, &mut i)?).ok()?;
                let s = b.get(i..i.checked_add(n)?)?;
                i += n;
                f(key >> 3, s)?;
            }
            _ => return None,
        }
    }
    (i == b.len()).then_some(())
}

/// The span names of an OTLP `ExportTraceServiceRequest` body (resource_spans = 1,
/// scope_spans = 2, spans = 2, Span.name = 5), read from the wire format without decoding the
/// rest, so the receiver costs the benchmarked process little CPU.
fn span_names(body: &[u8], mut name: impl FnMut(&[u8])) -> Option<()> {
    each_field(body, |f, rs| {
        if f != 1 {
            return Some(());
        }
        each_field(rs, |f, ss| {
            if f != 2 {
                return Some(());
            }
            each_field(ss, |f, span| {
                if f != 2 {
                    return Some(());
                }
                each_field(span, |f, v| {
                    if f == 5 {
                        name(v);
                    }
                    Some(())
                })
            })
        })
    })
}

/// A local OTLP/HTTP receiver on its own runtime; returns its base URL. No body size limit (a
/// collector's default is tens of MiB; axum's 2 MiB would refuse fastrace's larger batches).
fn receiver(rt: &tokio::runtime::Runtime, got: Arc<Mutex<Received>>) -> String {
    use axum::{Router, body::Bytes, extract::DefaultBodyLimit, extract::State, routing::post};
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("receiver address");
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(got): State<Arc<Mutex<Received>>>, body: Bytes| async move {
                    let mut names: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
                    if span_names(&body, |n| *names.entry(n.to_vec()).or_default() += 1).is_none() {
                        return (axum::http::StatusCode::BAD_REQUEST, "");
                    }
                    let mut g = got.lock().unwrap_or_else(|e| e.into_inner());
                    g.bytes += body.len() as u64;
                    g.requests += 1;
                    for (n, k) in names {
                        *g.spans
                            .entry(String::from_utf8_lossy(&n).into_owned())
                            .or_default() += k;
                    }
                    (axum::http::StatusCode::OK, "")
                },
            ),
        )
        .layer(DefaultBodyLimit::disable())
        .with_state(got);
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn otlp_exporter(base: &str) -> opentelemetry_otlp::SpanExporter {
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/traces"))
        .build()
        .expect("OTLP exporter")
}

fn resource(name: &'static str) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build()
}

static CALLS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// `iters` calls of `f`, counted in `CALLS[slot]`.
fn timed(slot: usize, iters: u64, f: fn(&str, u64) -> u64) -> Duration {
    CALLS[slot].fetch_add(iters, Ordering::Relaxed);
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f(black_box("acme"), black_box(7)));
    }
    start.elapsed()
}

/// Lets the exporters' background threads finish what the previous row queued, so its encoding
/// and sending is not charged to the next row.
fn settle() {
    std::thread::sleep(Duration::from_secs(2));
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("receiver runtime");
    let got = Arc::new(Mutex::new(Received::default()));
    let base = receiver(&rt, got.clone());

    let mut config = observa::Config::new("bench-observa")
        .with_writer(std::io::sink())
        .with_log_level("info");
    config.otlp_endpoint = Some(base.clone());
    let guard = observa::init(config).expect("observa::init");

    // tracing + tracing-opentelemetry, batch exporter, as its docs set it up.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(otlp_exporter(&base))
        .with_resource(resource("bench-tracing"))
        .build();
    let full = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::sink),
        )
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    let full = tracing::Dispatch::new(full);
    let span_only = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    let span_only = tracing::Dispatch::new(span_only);

    fastrace::set_reporter(
        fastrace_opentelemetry::OpenTelemetryReporter::new(
            otlp_exporter(&base),
            std::borrow::Cow::Owned(resource("bench-fastrace")),
            opentelemetry::InstrumentationScope::builder("bench").build(),
        ),
        fastrace::collector::Config::default(),
    );

    let total = || {
        let g = got.lock().unwrap_or_else(|e| e.into_inner());
        g.spans.values().sum::<u64>()
    };
    // Waits until the receiver's span count has not moved for `still` seconds in a row (after
    // at least the 5 s batch delay of the SDK exporters; at most 300 s).
    let quiesce = |still: u32| {
        std::thread::sleep(Duration::from_secs(5));
        let (mut last, mut n) = (total(), 0);
        for _ in 0..300 {
            if n >= still {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            let now = total();
            n = if now == last { n + 1 } else { 0 };
            last = now;
        }
    };
    let received = |name: &str| {
        let g = got.lock().unwrap_or_else(|e| e.into_inner());
        g.spans.get(name).copied().unwrap_or(0)
    };

    // Paced, first (before any backlog): one call every ~50 us (a sleep between calls), each
    // call timed alone; the timer's own cost is the `bare` row's. At this rate no exporter
    // should drop a span. The back-to-back criterion loop below overflows every exporter's
    // queue instead, and fastrace's collector then sends its backlog for a long while.
    const PACED_CALLS: usize = 20_000;
    let paced = |f: fn(&str, u64) -> u64, span: &str, flush: &dyn Fn()| {
        let before = received(span);
        let mut ns = Vec::with_capacity(PACED_CALLS);
        for i in 0..PACED_CALLS {
            std::thread::sleep(Duration::from_micros(50));
            let start = Instant::now();
            black_box(f(black_box("acme"), black_box(i as u64)));
            ns.push(start.elapsed().as_nanos() as u64);
        }
        flush();
        quiesce(2);
        ns.sort_unstable();
        let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64;
        serde_json::json!({
            "calls": PACED_CALLS,
            "median_ns": ns[ns.len() / 2],
            "p90_ns": ns[ns.len() * 9 / 10],
            "p99_ns": ns[ns.len() * 99 / 100],
            "mean_ns": mean,
            "spans_received": received(span) - before,
        })
    };
    let nothing = || {};
    let paced_rows = serde_json::json!({
        "bare": paced(bare, "-", &nothing),
        "observa_tenant_full": paced(observa_traced, "observa_traced", &nothing),
        "tracing_otel_json_prometheus": tracing::dispatcher::with_default(&full, || {
            paced(tracing_traced, "tracing_traced", &|| {
                let _ = provider.force_flush();
            })
        }),
        "tracing_otel_span": tracing::dispatcher::with_default(&span_only, || {
            paced(tracing_span_only, "tracing_span_only", &|| {
                let _ = provider.force_flush();
            })
        }),
        "fastrace_root": paced(fastrace_traced, "fastrace_traced", &fastrace::flush),
    });
    let after_paced: BTreeMap<String, u64> = {
        let g = got.lock().unwrap_or_else(|e| e.into_inner());
        g.spans.clone()
    };

    let mut g = c.benchmark_group("traced");
    g.bench_function("bare", |b| b.iter_custom(|n| timed(0, n, bare)));
    g.bench_function("observa_tenant_full", |b| {
        b.iter_custom(|n| timed(1, n, observa_traced))
    });
    settle();
    tracing::dispatcher::with_default(&full, || {
        g.bench_function("tracing_otel_json_prometheus", |b| {
            b.iter_custom(|n| timed(2, n, tracing_traced))
        });
    });
    settle();
    tracing::dispatcher::with_default(&span_only, || {
        g.bench_function("tracing_otel_span", |b| {
            b.iter_custom(|n| timed(3, n, tracing_span_only))
        });
    });
    settle();
    g.bench_function("fastrace_root", |b| {
        b.iter_custom(|n| timed(4, n, fastrace_traced))
    });
    g.finish();

    // Flush every exporter and wait until nothing has arrived for 15 s (fastrace's collector
    // encodes and sends its backlog in large batches with long gaps between them).
    fastrace::flush();
    let _ = provider.force_flush();
    drop(guard);
    quiesce(15);
    let row = |slot: usize, span: &str| {
        serde_json::json!({
            "calls": CALLS[slot].load(Ordering::Relaxed),
            "spans_received": received(span) - after_paced.get(span).copied().unwrap_or(0),
        })
    };
    let criterion_rows = serde_json::json!({
        "observa_tenant_full": row(1, "observa_traced"),
        "tracing_otel_json_prometheus": row(2, "tracing_traced"),
        "tracing_otel_span": row(3, "tracing_span_only"),
        "fastrace_root": row(4, "fastrace_traced"),
    });
    let got = got.lock().unwrap_or_else(|e| e.into_inner());
    let counts = serde_json::json!({
        "traced": criterion_rows,
        "paced": paced_rows,
        "received": {
            "spans_by_name": got.spans,
            "bytes": got.bytes,
            "requests": got.requests,
        }
    });
    eprintln!("traced counts: {counts}");
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("criterion");
    let _ = std::fs::create_dir_all(&dir);
    if let Err(e) = std::fs::write(dir.join("traced-counts.json"), counts.to_string()) {
        eprintln!("cannot save counts: {e}");
    }
    let _ = provider.shutdown();
}

criterion_group!(group, benches);
criterion_main!(group);
