//! Driver for `valgrind --tool=callgrind`: N traced calls of `#[observed(tenant)]` with OTLP
//! export on (`Config::otlp_endpoint` pointing at a local receiver, sample ratio 1.0), as
//! benches/benches/traced.rs measures them. Only `run` (the caller's loop) is collected
//! (`--toggle-collect`); run with `--separate-threads=yes` and read the main thread's file, so
//! the exporter's batch thread and the receiver are not counted. `traced` is the observa call,
//! `untraced` the same call with no endpoint configured (what export adds), `otel_span` the bare
//! `#[tracing::instrument]` + `tracing-opentelemetry` span, for scale. Set `OTEL_BSP_MAX_QUEUE_SIZE=65536` so
//! that the SDK's queue does not overflow while valgrind slows the batch thread down (a full queue
//! drops spans on the caller's thread, at a cost that varies from run to run).
//!
//!   callgrind_traced traced|untraced|otel_span|bare N
//!
//! `CHUNK=1000`: the N calls in runs of 1000 with a 30 ms pause between them (not collected),
//! in which the span pipe's thread drains (under valgrind, threads run one at a time: without
//! pauses it never runs during the loop, and no span record is handed back for reuse).
//!
//! ```sh
//! cargo build --profile bench --manifest-path benches/Cargo.toml --example callgrind_traced
//! valgrind --tool=callgrind --separate-threads=yes --toggle-collect='*callgrind_traced::run*' \
//!     benches/target/release/examples/callgrind_traced traced 20000
//! ```

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
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

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
#[inline(never)]
fn tracing_span_only(tenant: &str, x: u64) -> u64 {
    let _ = tenant;
    work(x)
}

/// A minimal HTTP/1.1 receiver (keep-alive): answers 200 to every request, reads and drops the
/// body. Returns its base URL.
fn receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if w
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// `PACED=1` (not under valgrind): `n` calls one every ~50 us, each timed alone, as the traced
/// bench's paced rows; prints the median and p90 in ns. Splits the paced cost of a traced call
/// between the span (`traced` minus `untraced`) and the line and metrics (`untraced` minus
/// `bare`).
fn paced(f: fn(&str, u64) -> u64, n: u64) {
    let mut t = Vec::with_capacity(n as usize);
    for i in 0..n {
        std::thread::sleep(std::time::Duration::from_micros(50));
        let s = std::time::Instant::now();
        black_box(f(black_box("acme"), black_box(i)));
        t.push(s.elapsed().as_nanos() as u64);
    }
    t.sort_unstable();
    let at = |q: f64| t[((t.len() - 1) as f64 * q) as usize];
    println!("median_ns {} p90_ns {}", at(0.5), at(0.9));
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
    let which = args.next().unwrap_or_else(|| "traced".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let base = receiver();
    let mut config = observa::Config::new("callgrind")
        .with_writer(std::io::sink())
        .with_log_level("info");
    if which != "untraced" {
        config.otlp_endpoint = Some(base.clone());
    }
    let guard = observa::init(config).expect("observa::init");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{base}/v1/traces"))
                .build()
                .expect("exporter"),
        )
        .build();
    let span_only = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
            .with(tracing_subscriber::filter::LevelFilter::INFO),
    );
    let f: fn(&str, u64) -> u64 = match which.as_str() {
        "bare" => bare,
        "otel_span" => tracing_span_only,
        _ => observa_traced,
    };
    let go = || {
        // One call outside the collected part: registration of the site and of the metrics.
        black_box(f("acme", 0));
        let chunk: Option<u64> = std::env::var("CHUNK").ok().and_then(|c| c.parse().ok());
        if std::env::var_os("PACED").is_some() {
            paced(f, n);
        } else if let Some(k) = chunk.filter(|k| *k > 0) {
            // `CHUNK=k`: the calls in runs of `k` with a pause between (outside the collected
            // part), so that valgrind's serialised threads let the span pipe drain and hand its
            // emptied records back, as it does between calls on a real machine.
            let mut acc = 0;
            for _ in 0..n / k {
                acc ^= run(f, k);
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            println!("{acc}");
        } else {
            println!("{}", run(f, n));
        }
    };
    if which == "otel_span" {
        tracing::dispatcher::with_default(&span_only, go);
    } else {
        go();
    }
    let _ = provider.shutdown();
    drop(guard);
}
