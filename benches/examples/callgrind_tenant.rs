//! Driver for `valgrind --tool=callgrind` (scripts/bench-callgrind.sh): N calls of the
//! tenant-bound metrics-only path (`#[observed(tenant, level = "debug")]` under the INFO filter of
//! `observa::init`), or of the same fn with nothing bound (`plain`), or of the tenant-bound fn at
//! INFO (`full`: the caller's side of a full-output call; the writer thread is not collected), or
//! of `#[observed(tenant, user, fields(order_id, amount))]` at INFO (`fields`), or of its peer (hand-written prometheus counter + histogram + 2x
//! `Instant::now()`), or of the bare fn. Only `run` is collected (`--toggle-collect`), so
//! `observa::init` and the first call's registration are outside the counts except as noted.
//!
//!   callgrind_tenant observa|plain|full|fields|prometheus|bare N

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
fn bare(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, level = "debug")]
#[inline(never)]
fn observed_tenant_debug(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(level = "debug")]
#[inline(never)]
fn observed_plain_debug(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant)]
#[inline(never)]
fn observed_tenant_full(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, user, fields(order_id, amount))]
#[inline(never)]
fn observed_tenant_user_fields(tenant: &str, user: &str, order_id: u64, amount: u64) -> u64 {
    let _ = (tenant, user);
    work(order_id ^ amount)
}

#[inline(never)]
fn fields_call(tenant: &str, x: u64) -> u64 {
    observed_tenant_user_fields(tenant, black_box("u-42"), x, black_box(250))
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

#[inline(never)]
fn prometheus_tenant(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed();
    HAND_CALLS.inc();
    HAND_DURATION.observe(elapsed.as_secs_f64());
    r
}

/// The collected part: `n` calls.
#[inline(never)]
fn run(f: fn(&str, u64) -> u64, n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        acc ^= f(black_box("acme"), black_box(i));
    }
    acc
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "observa".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let _guard = observa::init(
        observa::Config::new("callgrind")
            .with_writer(std::io::sink())
            .with_log_level("info"),
    )
    .expect("observa::init");
    let f: fn(&str, u64) -> u64 = match which.as_str() {
        "prometheus" => prometheus_tenant,
        "bare" => bare,
        "plain" => observed_plain_debug,
        "full" => observed_tenant_full,
        "fields" => fields_call,
        _ => observed_tenant_debug,
    };
    // One call outside the collected part: registration of the site and of the metric handles.
    black_box(f("acme", 0));
    println!("{}", run(f, n));
}
