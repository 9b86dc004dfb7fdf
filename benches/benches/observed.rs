//! `#[observed]` against the bare fn and the alternatives a user would pick, in one run.
//!
//! Every variant calls the same `work` (a few ns of arithmetic the optimiser cannot remove) so
//! the differences are the instrumentation alone. Variants, by criterion id `observed/<id>`:
//!
//! - `bare`: the fn alone.
//! - `observa_full`: `#[observa::observed]` with observa's pipeline installed globally by
//!   `observa::init` (log level `info`, JSON lines through the non-blocking writer into
//!   `io::sink()`): span, `work.completed` line, calls counter, duration histogram, in-flight
//!   gauge.
//! - `observa_metrics_only`: the same fn annotated `level = "debug"` under the INFO filter: span
//!   and completion line filtered out by level (logs off, the production case), metrics on.
//! - `observa_no_subscriber`: `observed_work` under a scoped `NoSubscriber` dispatcher (every
//!   span and event refused by the dispatcher rather than by level).
//! - `tracing_json_prometheus`: the hand-assembled alternative: `#[tracing::instrument(skip_all)]`
//!   plus one `tracing::info!` completion event, formatted by `tracing-subscriber`'s JSON fmt
//!   layer into `io::sink()` (scoped dispatcher), plus a hand-written `prometheus` counter and
//!   histogram with two `Instant::now()`.
//! - `prometheus_only`: the bare fn plus the hand-written counter and histogram and two
//!   `Instant::now()` (the bar for `observa_metrics_only`).
//! - `autometrics`: `#[autometrics]` with the `prometheus-0_14` backend.
//! - `fastrace_unsampled`: `#[fastrace::trace]` with a reporter set but no local parent span: the
//!   cost of the attribute on calls that are not traced.
//! - `fastrace_sampled`: `#[fastrace::trace]` under a local parent span (a root span every 1024
//!   calls, amortised and timed) with a reporter that discards the spans.
//!
//!
//! Tenant-bound rows (issue #14: real handlers bind a tenant), `fn(tenant: &str, x: u64)`:
//!
//! - `observa_tenant_full`: `#[observed(tenant)]`, full output as `observa_full`.
//! - `observa_tenant_metrics_only`: `#[observed(tenant, level = "debug")]` under the INFO filter.
//! - `observa_tenant_user_fields_full`: `#[observed(tenant, user, fields(order_id, amount))]` on
//!   `fn(tenant: &str, user: &str, order_id: u64, amount: u64)`, full output.
//! - `tracing_tenant_json_prometheus`: `#[tracing::instrument(skip_all, fields(tenant = %tenant))]`
//!   with `info!`, fmt JSON and hand-written prometheus (the tenant is on the line as a span field).
//! - `tracing_tenant_user_fields_json_prometheus`: the same with `tenant`, `user`, `order_id`,
//!   `amount` as span fields.
//! - the metrics-only peer is `prometheus_only` (prometheus has no tenant to bind).
//!
//! Async rows (group `observed_async`): the same tenant-bound fn as an `async fn`, polled by a
//! current-thread tokio runtime, many calls inside one `block_on` (the runtime entry is not
//! measured): `bare`, `observa_tenant_full`, `observa_tenant_metrics_only`,
//! `tracing_tenant_json_prometheus`.
//!
//! JSON lines per second (group `lines`, throughput in elements): one caller thread writing a
//! 4-field `info!` (`order_id`, `sku`, `amount`, `paid` and a message) through observa's pipeline
//! (`observa`) and through `tracing-subscriber`'s JSON fmt layer (`tracing_subscriber_json`), both
//! into `io::sink()`. The lines observa dropped meanwhile (`observa_log_dropped_total` before and
//! after) and the lines written are saved in `criterion/observed-counts.json`.
//!
//! The feature-off build (`observa` with `default-features = false`) cannot share this binary
//! (cargo unifies features): it is `benches/observa-off`, run by the same script.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prometheus::{Histogram, HistogramOpts, IntCounter, Opts};
use std::hint::black_box;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
        ^ 0x5bd1_e995
}

#[inline(never)]
fn bare(x: u64) -> u64 {
    work(x)
}

#[observa::observed]
#[inline(never)]
fn observed_work(x: u64) -> u64 {
    work(x)
}

/// The same fn at DEBUG under the INFO filter: its span and completion line are filtered out by
/// level, the way an instrumented fn's logs are off in production; metrics stay on.
#[observa::observed(level = "debug")]
#[inline(never)]
fn observed_debug_work(x: u64) -> u64 {
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

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_work(x: u64) -> u64 {
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    tracing::info!(
        event = "tracing_work.completed",
        duration_ms = elapsed.as_secs_f64() * 1e3,
        outcome = "ok"
    );
    r
}

#[inline(never)]
fn prometheus_work(x: u64) -> u64 {
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    r
}

#[autometrics::autometrics]
#[inline(never)]
fn autometrics_work(x: u64) -> u64 {
    work(x)
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_work(x: u64) -> u64 {
    work(x)
}

#[observa::observed(tenant)]
#[inline(never)]
fn observed_tenant(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, level = "debug")]
#[inline(never)]
fn observed_tenant_debug(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, user, fields(order_id, amount))]
#[inline(never)]
fn observed_tenant_user_fields(tenant: &str, user: &str, order_id: u64, amount: u64) -> u64 {
    let _ = (tenant, user);
    work(order_id ^ amount)
}

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
#[inline(never)]
fn tracing_tenant(tenant: &str, x: u64) -> u64 {
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    tracing::info!(
        event = "tracing_tenant.completed",
        duration_ms = elapsed.as_secs_f64() * 1e3,
        outcome = "ok"
    );
    r
}

#[tracing::instrument(
    skip_all,
    fields(tenant = %tenant, user = %user, order_id = order_id, amount = amount)
)]
#[inline(never)]
fn tracing_tenant_user_fields(tenant: &str, user: &str, order_id: u64, amount: u64) -> u64 {
    let start = Instant::now();
    let r = work(order_id ^ amount);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    tracing::info!(
        event = "tracing_tenant_user_fields.completed",
        duration_ms = elapsed.as_secs_f64() * 1e3,
        outcome = "ok"
    );
    r
}

#[inline(never)]
async fn bare_async(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant)]
#[inline(never)]
async fn observed_tenant_async(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, level = "debug")]
#[inline(never)]
async fn observed_tenant_debug_async(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
#[inline(never)]
async fn tracing_tenant_async(tenant: &str, x: u64) -> u64 {
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    tracing::info!(
        event = "tracing_tenant_async.completed",
        duration_ms = elapsed.as_secs_f64() * 1e3,
        outcome = "ok"
    );
    r
}

/// One JSON line with four fields and a message, through whichever subscriber is current.
#[inline(never)]
fn info_line(order_id: u64) {
    tracing::info!(
        order_id,
        sku = "SKU-1234",
        amount = 12.5,
        paid = true,
        "order placed"
    );
}

/// `observa_log_dropped_total` (all series) from observa's exposition; `None` if it is not
/// there (then no drop count is claimed).
fn log_dropped() -> Option<u64> {
    let values: Vec<f64> = observa::metrics::render()
        .lines()
        .filter(|l| l.starts_with("observa_log_dropped_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
}

/// Times `iters` calls of `f` inside one `block_on` of a current-thread runtime.
fn block_on_many<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, f: F) -> std::time::Duration
where
    F: Fn(&'static str, u64) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f(black_box("acme"), black_box(7)).await);
        }
        start.elapsed()
    })
}

struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

fn benches(c: &mut Criterion) {
    let _guard = observa::init(
        observa::Config::new("bench")
            .with_writer(std::io::sink())
            .with_log_level("info"),
    )
    .expect("observa::init");
    fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());
    let json = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    let json = tracing::Dispatch::new(json);
    let none = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let mut g = c.benchmark_group("observed");
    g.bench_function("bare", |b| b.iter(|| bare(black_box(7))));
    g.bench_function("observa_full", |b| b.iter(|| observed_work(black_box(7))));
    g.bench_function("observa_metrics_only", |b| {
        b.iter(|| observed_debug_work(black_box(7)))
    });
    tracing::dispatcher::with_default(&none, || {
        g.bench_function("observa_no_subscriber", |b| {
            b.iter(|| observed_work(black_box(7)))
        });
    });
    tracing::dispatcher::with_default(&json, || {
        g.bench_function("tracing_json_prometheus", |b| {
            b.iter(|| tracing_work(black_box(7)))
        });
    });
    g.bench_function("prometheus_only", |b| {
        b.iter(|| prometheus_work(black_box(7)))
    });
    g.bench_function("autometrics", |b| b.iter(|| autometrics_work(black_box(7))));
    // Tenant-bound (issue #14).
    g.bench_function("observa_tenant_full", |b| {
        b.iter(|| observed_tenant(black_box("acme"), black_box(7)))
    });
    g.bench_function("observa_tenant_metrics_only", |b| {
        b.iter(|| observed_tenant_debug(black_box("acme"), black_box(7)))
    });
    g.bench_function("observa_tenant_user_fields_full", |b| {
        b.iter(|| {
            observed_tenant_user_fields(
                black_box("acme"),
                black_box("u-42"),
                black_box(1001),
                black_box(250),
            )
        })
    });
    tracing::dispatcher::with_default(&json, || {
        g.bench_function("tracing_tenant_json_prometheus", |b| {
            b.iter(|| tracing_tenant(black_box("acme"), black_box(7)))
        });
        g.bench_function("tracing_tenant_user_fields_json_prometheus", |b| {
            b.iter(|| {
                tracing_tenant_user_fields(
                    black_box("acme"),
                    black_box("u-42"),
                    black_box(1001),
                    black_box(250),
                )
            })
        });
    });
    g.bench_function("fastrace_unsampled", |b| {
        b.iter(|| fastrace_work(black_box(7)))
    });
    g.bench_function("fastrace_sampled", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(1024);
                let root = fastrace::Span::root("bench", fastrace::prelude::SpanContext::random());
                let _parent = root.set_local_parent();
                for _ in 0..n {
                    black_box(fastrace_work(black_box(7)));
                }
                drop(_parent);
                drop(root);
                left -= n;
            }
            start.elapsed()
        })
    });
    g.finish();

    // Async: many calls per `block_on` of a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime");
    let mut g = c.benchmark_group("observed_async");
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| block_on_many(&rt, iters, bare_async))
    });
    g.bench_function("observa_tenant_full", |b| {
        b.iter_custom(|iters| block_on_many(&rt, iters, observed_tenant_async))
    });
    g.bench_function("observa_tenant_metrics_only", |b| {
        b.iter_custom(|iters| block_on_many(&rt, iters, observed_tenant_debug_async))
    });
    tracing::dispatcher::with_default(&json, || {
        g.bench_function("tracing_tenant_json_prometheus", |b| {
            b.iter_custom(|iters| block_on_many(&rt, iters, tracing_tenant_async))
        });
    });
    g.finish();

    // JSON lines per second on one caller thread, drops counted.
    let mut g = c.benchmark_group("lines");
    g.throughput(Throughput::Elements(1));
    static OBSERVA_LINES: AtomicU64 = AtomicU64::new(0);
    static TRACING_LINES: AtomicU64 = AtomicU64::new(0);
    let dropped_before = log_dropped();
    g.bench_function("observa", |b| {
        b.iter_custom(|iters| {
            OBSERVA_LINES.fetch_add(iters, Ordering::Relaxed);
            let start = Instant::now();
            for i in 0..iters {
                info_line(black_box(i));
            }
            start.elapsed()
        })
    });
    // Let the writer thread drain what is queued before reading the count.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let dropped = log_dropped()
        .zip(dropped_before)
        .map(|(after, before)| after - before);
    tracing::dispatcher::with_default(&json, || {
        g.bench_function("tracing_subscriber_json", |b| {
            b.iter_custom(|iters| {
                TRACING_LINES.fetch_add(iters, Ordering::Relaxed);
                let start = Instant::now();
                for i in 0..iters {
                    info_line(black_box(i));
                }
                start.elapsed()
            })
        });
    });
    g.finish();
    fastrace::flush();

    let counts = serde_json::json!({
        "lines": {
            "observa": {
                "written": OBSERVA_LINES.load(Ordering::Relaxed),
                "dropped": dropped,
            },
            "tracing_subscriber_json": { "written": TRACING_LINES.load(Ordering::Relaxed) },
        }
    });
    eprintln!("observed counts: {counts}");
    save_counts("observed", &counts);
}

/// Writes `<target>/criterion/<name>-counts.json` for scripts/bench-table.py.
fn save_counts(name: &str, counts: &serde_json::Value) {
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("criterion");
    let _ = std::fs::create_dir_all(&dir);
    if let Err(e) = std::fs::write(dir.join(format!("{name}-counts.json")), counts.to_string()) {
        eprintln!("cannot save counts: {e}");
    }
}

criterion_group!(group, benches);
criterion_main!(group);
