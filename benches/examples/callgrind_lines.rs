//! Driver for `valgrind --tool=callgrind` of the log line path (issue #14): N lines of the
//! 4-field `tracing::info!` of the `lines` bench through observa's pipeline (`info`), or N calls
//! of `#[observed(tenant)]` at INFO (`full`: the caller's side of a full-output call), or the
//! same `info!` through `tracing-subscriber`'s JSON fmt layer (`tracing_json`, the peer of the
//! `lines` bench, a scoped dispatcher writing into `io::sink()`). Only `run`
//! is collected (`--toggle-collect='*callgrind_lines::run*'`); the writer thread's drain can be
//! collected instead with `--toggle-collect='*log::writer::run*'`. The lines go to `io::sink()`.
//!
//!   callgrind_lines info|full|tracing_json N
//!
//! At the end the driver prints the lines observa dropped (`observa_log_dropped_total`) to stderr.

use std::hint::black_box;

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
        ^ 0x5bd1_e995
}

#[observa::observed(tenant)]
#[inline(never)]
fn observed_tenant_full(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[inline(never)]
fn info_line(_tenant: &str, order_id: u64) -> u64 {
    tracing::info!(
        order_id,
        sku = "SKU-1234",
        amount = 12.5,
        paid = true,
        "order placed"
    );
    order_id
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

fn log_dropped() -> u64 {
    observa::metrics::render()
        .lines()
        .filter(|l| l.starts_with("observa_log_dropped_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "info".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let guard = observa::init(
        observa::Config::new("callgrind")
            .with_writer(std::io::sink())
            .with_log_level("info"),
    )
    .expect("observa::init");
    let f: fn(&str, u64) -> u64 = match which.as_str() {
        "full" => observed_tenant_full,
        _ => info_line,
    };
    if which == "tracing_json" {
        let json = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(json, || {
            black_box(f("acme", 0));
            println!("{}", run(f, n));
        });
        return;
    }
    // One call outside the collected part: registration of the callsite and handles.
    black_box(f("acme", 0));
    println!("{}", run(f, n));
    std::thread::sleep(std::time::Duration::from_millis(100));
    eprintln!("dropped: {}", log_dropped());
    drop(guard);
}
