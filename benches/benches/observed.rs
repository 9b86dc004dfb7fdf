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
//! The feature-off build (`observa` with `default-features = false`) cannot share this binary
//! (cargo unifies features): it is `benches/observa-off`, run by the same script.

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus::{Histogram, HistogramOpts, IntCounter, Opts};
use std::hint::black_box;
use std::sync::LazyLock;
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
    fastrace::flush();
}

criterion_group!(group, benches);
criterion_main!(group);
