//! Per-request resource use (seed 003's resource tracking): CPU time, allocated bytes and I/O
//! bytes of an HTTP request or an `#[observed]` call, on its line and as histograms.
//!
//! **What is measured.** A request's future runs in polls, possibly on different worker
//! threads; each poll is measured on the thread that runs it and the deltas are summed, so the
//! figures belong to the request and not to whatever else the threads did in between:
//! - `cpu_ms`: thread CPU time (`CLOCK_THREAD_CPUTIME_ID`, Linux and Android; absent
//!   elsewhere), user plus system;
//! - `alloc_bytes`: bytes allocated, only when the binary installs [`CountingAlloc`] as its
//!   `#[global_allocator]` (opt-in; frees are not subtracted, the growth of a `realloc` counts);
//! - `io_read_bytes` / `io_write_bytes`: bytes that went through `read`/`write`-family system
//!   calls of the thread (`rchar`/`wchar` of `/proc/thread-self/io`, Linux only): files, pipes
//!   and sockets, whether or not they reached a disk. Absent when `/proc` is not readable.
//!
//! **Limits.** Work the request hands to other threads (`spawn_blocking`, a thread pool, a
//! database driver's own threads, the kernel's socket buffers) is not counted: only what runs
//! inside the request's polls. Reading `/proc/thread-self/io` costs two small file reads per
//! poll, so tracking is not meant for every request of a busy service: sample it or turn it on
//! per request.
//!
//! **When.** Off by default. [`set_policy`] turns it on for every request and call
//! ([`Policy::Always`]) or a random fraction ([`Policy::Sampled`]); the HTTP layer can also turn
//! it on for one request when a header asks and a check the application supplies allows it
//! (seed 003's admin-only `X-Debug-Resource-Tracking`, see
//! `RequestLayer::resource_tracking_header`). `#[observed]` calls made inside a tracked request
//! are tracked too.
//!
//! **Where.** The fields above are added to `request.completed` / `request.failed` and to
//! `<event>.completed` / `<event>.failed`; histograms `http_request_cpu_seconds`,
//! `http_request_alloc_bytes`, `http_request_io_bytes{direction}` by method and route template,
//! and `observa_call_cpu_seconds`, `observa_call_alloc_bytes`, `observa_call_io_bytes{direction}`
//! by event.
//!
//! **Cost when off:** one relaxed atomic load and one thread-local read per request or call.

#[cfg(feature = "tower")]
pub(crate) mod http;
mod sys;

#[cfg(feature = "tower")]
pub use http::Allow;

pub use observa_alloc::CountingAlloc;

use crate::metrics::HistogramFamily;
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// When resource use is measured (besides per-request header opt-in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// Never, unless a request asks through the header toggle (the default).
    Off,
    /// Every request and every `#[observed]` call.
    Always,
    /// A random fraction in `(0, 1]` of requests and top-level calls.
    Sampled(f64),
}

static MODE: AtomicU8 = AtomicU8::new(0);
static RATE: AtomicU64 = AtomicU64::new(0);

/// Sets the process-wide [`Policy`]. A sample rate outside `(0, 1]` is refused and handed back.
pub fn set_policy(p: Policy) -> Result<(), Policy> {
    match p {
        Policy::Off => MODE.store(0, Ordering::Relaxed),
        Policy::Always => MODE.store(1, Ordering::Relaxed),
        Policy::Sampled(r) if r > 0.0 && r <= 1.0 => {
            RATE.store(r.to_bits(), Ordering::Relaxed);
            MODE.store(2, Ordering::Relaxed);
        }
        Policy::Sampled(_) => return Err(p),
    }
    Ok(())
}

/// The process-wide [`Policy`].
pub fn policy() -> Policy {
    match MODE.load(Ordering::Relaxed) {
        0 => Policy::Off,
        1 => Policy::Always,
        _ => Policy::Sampled(f64::from_bits(RATE.load(Ordering::Relaxed))),
    }
}

/// Whether the policy picks this request or call.
#[inline]
pub(crate) fn picked() -> bool {
    match MODE.load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        _ => crate::encode::rand::unit_f64() < f64::from_bits(RATE.load(Ordering::Relaxed)),
    }
}

thread_local! {
    /// A tracked request is being polled on this thread: calls inside it are tracked too.
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

/// Resource use of one request or call, as reported on its line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time in nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Bytes allocated (with [`CountingAlloc`] installed).
    pub alloc_bytes: Option<u64>,
    /// Bytes read through system calls (Linux).
    pub io_read_bytes: Option<u64>,
    /// Bytes written through system calls (Linux).
    pub io_write_bytes: Option<u64>,
}

#[derive(Clone, Copy)]
struct Snap {
    cpu: Option<u64>,
    alloc: Option<u64>,
    io: Option<(u64, u64, u64)>,
}

impl Snap {
    fn now() -> Snap {
        // I/O first, so the bytes of reading the counters are known; CPU last.
        let io = sys::thread_io();
        Snap {
            io,
            alloc: observa_alloc::thread_allocated(),
            cpu: sys::thread_cpu_ns(),
        }
    }
}

fn add(acc: &mut Option<u64>, d: Option<u64>) {
    if let Some(d) = d {
        *acc = Some(acc.unwrap_or(0).saturating_add(d));
    }
}

/// Measures the polls of one request or call (crate-private: the layer and call sites own one).
/// Off, it is one null pointer: nothing is allocated or read.
pub(crate) struct Meter(Option<Box<MeterState>>);

struct MeterState {
    usage: Usage,
    mark: Option<Snap>,
    outer: bool,
}

impl Meter {
    /// A meter that measures nothing.
    pub(crate) const OFF: Meter = Meter(None);

    /// A meter that measures when `on`.
    pub(crate) fn new(on: bool) -> Meter {
        Meter(on.then(|| {
            Box::new(MeterState {
                usage: Usage::default(),
                mark: None,
                outer: false,
            })
        }))
    }

    /// Measures something (not [`Meter::OFF`]).
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// A meter for an `#[observed]` call: on when the policy picks it or a tracked request
    /// is being polled on this thread.
    #[inline]
    pub(crate) fn for_call() -> Meter {
        if TRACKED.with(Cell::get) || picked() {
            Meter::new(true)
        } else {
            Meter::OFF
        }
    }

    /// Start of a poll (or of a sync call). `track_inner`: calls made until [`Meter::pause`]
    /// are tracked too (the request's meter).
    #[inline]
    pub(crate) fn resume(&mut self, track_inner: bool) {
        if let Some(st) = &mut self.0 {
            if track_inner {
                st.outer = !TRACKED.with(|t| t.replace(true));
            }
            st.mark = Some(Snap::now());
        }
    }

    /// End of a poll: adds what the thread used since [`Meter::resume`].
    #[inline]
    pub(crate) fn pause(&mut self) {
        let Some(st) = &mut self.0 else { return };
        if let Some(m) = st.mark.take() {
            let now = Snap::now();
            let sub = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
            let u = &mut st.usage;
            add(&mut u.cpu_ns, sub(m.cpu, now.cpu));
            add(&mut u.alloc_bytes, sub(m.alloc, now.alloc));
            if let (Some((r0, w0, n0)), Some((r1, w1, _))) = (m.io, now.io) {
                // `r1` includes the `n0` bytes of reading the counters at `resume`.
                add(
                    &mut u.io_read_bytes,
                    Some(r1.saturating_sub(r0).saturating_sub(n0)),
                );
                add(&mut u.io_write_bytes, Some(w1.saturating_sub(w0)));
            }
        }
        if st.outer {
            st.outer = false;
            TRACKED.with(|t| t.set(false));
        }
    }

    /// What was measured, when the meter is on.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.0.as_ref().map(|st| st.usage)
    }
}

/// Appends the measured fields to a JSON object text (the `fields` of a completion event).
pub(crate) fn write_fields(buf: &mut Vec<u8>, u: &Usage) {
    use crate::encode::json::{write_f64, write_u64};
    use crate::lifecycle::push_member;
    if let Some(ns) = u.cpu_ns {
        push_member(buf, "cpu_ms", |o| write_f64(o, ns as f64 / 1e6));
    }
    for (k, v) in [
        ("alloc_bytes", u.alloc_bytes),
        ("io_read_bytes", u.io_read_bytes),
        ("io_write_bytes", u.io_write_bytes),
    ] {
        if let Some(v) = v {
            push_member(buf, k, |o| write_u64(o, v));
        }
    }
}

const BYTES_BUCKETS: &[f64] = &[
    1024.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
];

const CPU_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

struct Families {
    cpu: HistogramFamily,
    alloc: HistogramFamily,
    io: HistogramFamily,
}

fn families(http: bool) -> Option<&'static Families> {
    static HTTP: OnceLock<Option<Families>> = OnceLock::new();
    static CALL: OnceLock<Option<Families>> = OnceLock::new();
    let (cell, prefix, labels): (_, _, &[&str]) = if http {
        (&HTTP, "http_request", &["method", "route"])
    } else {
        (&CALL, "observa_call", &["event"])
    };
    cell.get_or_init(|| {
        let mut io_labels = labels.to_vec();
        io_labels.push("direction");
        let built = (|| {
            Ok::<_, crate::metrics::MetricsError>(Families {
                cpu: HistogramFamily::new(
                    &format!("{prefix}_cpu_seconds"),
                    "CPU time of tracked requests or calls in seconds",
                    labels,
                    CPU_BUCKETS,
                )?,
                alloc: HistogramFamily::new(
                    &format!("{prefix}_alloc_bytes"),
                    "Bytes allocated by tracked requests or calls (with observa::resource::CountingAlloc)",
                    labels,
                    BYTES_BUCKETS,
                )?,
                io: HistogramFamily::new(
                    &format!("{prefix}_io_bytes"),
                    "Bytes read or written through system calls by tracked requests or calls",
                    &io_labels,
                    BYTES_BUCKETS,
                )?,
            })
        })();
        match built {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(
                    target: "observa",
                    event = "observa.metrics_error",
                    error = %e,
                    "resource metrics disabled"
                );
                None
            }
        }
    })
    .as_ref()
}

/// Observes `u` in the histograms of HTTP requests (`labels` = method, route) or of calls
/// (`labels` = event).
pub(crate) fn observe(http: bool, labels: &[&str], u: &Usage) {
    let Some(f) = families(http) else { return };
    if let Some(ns) = u.cpu_ns {
        f.cpu.get(labels).observe(ns as f64 / 1e9);
    }
    if let Some(b) = u.alloc_bytes {
        f.alloc.get(labels).observe(b as f64);
    }
    let mut l: Vec<&str> = labels.to_vec();
    for (dir, v) in [("read", u.io_read_bytes), ("write", u.io_write_bytes)] {
        if let Some(v) = v {
            l.push(dir);
            f.io.get(&l).observe(v as f64);
            l.pop();
        }
    }
}

/// Whether a toggle header value asks for tracking: `1`, `true`, `on`, `yes` (any case).
pub fn header_asks(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    [&b"1"[..], b"true", b"on", b"yes"]
        .iter()
        .any(|w| v.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_sums_its_polls() {
        let mut m = Meter::new(true);
        for _ in 0..3 {
            m.resume(false);
            let mut x = 0u64;
            for i in 0..200_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            m.pause();
        }
        let u = m.usage().expect("on");
        #[cfg(target_os = "linux")]
        assert!(u.cpu_ns.is_some_and(|n| n > 0), "{u:?}");
        assert!(Meter::OFF.usage().is_none());
    }

    #[test]
    fn header_values() {
        assert!(header_asks(b" TRUE "));
        assert!(header_asks(b"1"));
        assert!(!header_asks(b"0"));
        assert!(!header_asks(b"admin"));
    }

    #[test]
    fn sample_rate_is_checked() {
        assert_eq!(set_policy(Policy::Sampled(1.5)), Err(Policy::Sampled(1.5)));
        assert_eq!(set_policy(Policy::Sampled(0.0)), Err(Policy::Sampled(0.0)));
    }
}
