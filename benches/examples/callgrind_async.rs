//! Driver for `valgrind --tool=callgrind`: N awaited calls of the tenant-bound metrics-only
//! async path (`#[observed(tenant, level = "debug")] async fn` under the INFO filter of
//! `observa::init`), polled inside one task of a current-thread tokio runtime, against the same
//! sync fn called N times from that task and the bare async fn. Only `run` is collected
//! (`--toggle-collect='*callgrind_async::run*'`): the async rows minus `bare` is what
//! instrumenting the async fn costs per call, comparable with the sync row.
//!
//! `full` is the tenant-bound async fn at INFO (full output: the caller's side of its completion
//! line; the writer thread is not collected).
//!
//!   callgrind_async observa|full|sync|bare N

use std::hint::black_box;

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
        ^ 0x5bd1_e995
}

#[inline(never)]
async fn bare(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, level = "debug")]
#[inline(never)]
async fn observed_async(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant)]
#[inline(never)]
async fn observed_async_full(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

#[observa::observed(tenant, level = "debug")]
#[inline(never)]
fn observed_sync(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

/// The collected part: `n` calls inside the task.
#[inline(never)]
fn run(rt: &tokio::runtime::Runtime, which: &str, n: u64) -> u64 {
    rt.block_on(calls(which, n))
}

async fn calls(which: &str, n: u64) -> u64 {
    let mut acc = 0u64;
    match which {
        "bare" => {
            for i in 0..n {
                acc ^= bare(black_box("acme"), black_box(i)).await;
            }
        }
        "full" => {
            for i in 0..n {
                acc ^= observed_async_full(black_box("acme"), black_box(i)).await;
            }
        }
        "sync" => {
            for i in 0..n {
                acc ^= observed_sync(black_box("acme"), black_box(i));
            }
        }
        _ => {
            for i in 0..n {
                acc ^= observed_async(black_box("acme"), black_box(i)).await;
            }
        }
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // One call outside the collected part: registration of the sites and metric handles.
    rt.block_on(async {
        black_box(observed_async("acme", 0).await);
        black_box(observed_async_full("acme", 0).await);
        black_box(observed_sync("acme", 0));
    });
    println!("{}", run(&rt, &which, n));
}
