//! The non-blocking writer behind every sink: a bounded byte buffer filled by the application's
//! threads and drained by one background thread.
//!
//! Why not `tracing_appender::non_blocking` (which observa used first): it allocates one `Vec`
//! per line and sends it through a channel, waking the writer thread per line. At high event
//! rates the allocation and the wake-ups were the largest single cost of a completion line in
//! our benchmarks (and the most variable one, since the woken thread competes for the core).
//! Here a line is one `memcpy` into a shared buffer under an uncontended mutex; the writer
//! thread is woken only when the buffer passes a high-water mark (256 KB, or half a smaller
//! buffer), and otherwise drains it every
//! [`FLUSH_INTERVAL`]. The buffer is bounded: a line that does not fit is dropped (never blocks
//! the application) and counted in `observa_log_dropped_total`. Lines are never split or
//! interleaved: each is appended whole.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the writer thread drains the buffer when it is not woken earlier.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// Buffer size that wakes the writer thread at once.
const HIGH_WATER: usize = 256 * 1024;

struct Shared {
    buf: Mutex<Vec<u8>>,
    wake: Condvar,
    cap: usize,
    /// Buffer size that wakes the writer thread at once: [`HIGH_WATER`], or half of a smaller
    /// buffer (so a small buffer is drained before it fills, not only every interval).
    high: usize,
    dropped: AtomicU64,
    closed: AtomicBool,
}

/// The application side of a sink: cheap to clone.
#[derive(Clone)]
pub(crate) struct LineWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread after draining everything queued (on drop).
pub(crate) struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a writer thread over `out`, buffering at most `cap` bytes.
pub(crate) fn spawn(
    out: Box<dyn Write + Send>,
    cap: usize,
    name: &str,
) -> std::io::Result<(LineWriter, WriterGuard)> {
    let shared = Arc::new(Shared {
        buf: Mutex::new(Vec::with_capacity(HIGH_WATER.min(cap))),
        wake: Condvar::new(),
        cap: cap.max(1024),
        high: HIGH_WATER.min(cap.max(1024) / 2),
        dropped: AtomicU64::new(0),
        closed: AtomicBool::new(false),
    });
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || run(&s, out))?;
    Ok((
        LineWriter {
            shared: shared.clone(),
        },
        WriterGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn run(s: &Shared, mut out: Box<dyn Write + Send>) {
    let mut spare = Vec::with_capacity(HIGH_WATER);
    loop {
        {
            let mut buf = s.buf.lock().unwrap_or_else(|p| p.into_inner());
            // Below the high-water mark the buffer is drained once per interval, not as soon
            // as it holds a line: draining whenever it was non-empty kept this thread taking
            // the lock in a loop while lines arrived, against every application thread (on
            // 2 cores a full-output call cost 40% more, most of it in `futex` system calls).
            if buf.len() < s.high && !s.closed.load(Ordering::Acquire) {
                buf = s
                    .wake
                    .wait_timeout(buf, FLUSH_INTERVAL)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            std::mem::swap(&mut *buf, &mut spare);
        }
        if !spare.is_empty() {
            if out.write_all(&spare).and_then(|()| out.flush()).is_err() {
                crate::metrics::internal_error("log");
            }
            spare.clear();
            if spare.capacity() > 4 * HIGH_WATER {
                spare.shrink_to(HIGH_WATER);
            }
        } else if s.closed.load(Ordering::Acquire) {
            let empty = s.buf.lock().map(|b| b.is_empty()).unwrap_or(true);
            if empty {
                return;
            }
        }
    }
}

impl LineWriter {
    /// Queues one whole line; drops (and counts) it when the buffer is full.
    #[inline]
    pub(crate) fn write_line(&self, line: &[u8]) {
        let s = &*self.shared;
        let wake = {
            let mut buf = s.buf.lock().unwrap_or_else(|p| p.into_inner());
            if buf.len() + line.len() > s.cap {
                drop(buf);
                s.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let before = buf.len();
            buf.extend_from_slice(line);
            before < s.high && buf.len() >= s.high
        };
        if wake {
            s.wake.notify_one();
        }
    }

    /// Lines dropped so far because the buffer was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        {
            // Under the lock: the writer checks `closed` under it before it waits, so it either
            // sees the flag or is already waiting for this notification (no 20 ms stall).
            let _buf = self.shared.buf.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.closed.store(true, Ordering::Release);
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemoryWriter;

    #[test]
    fn lines_arrive_whole_and_in_order_and_drop_flushes() {
        let mem = MemoryWriter::new();
        let (w, guard) = spawn(Box::new(mem.clone()), 1 << 20, "t").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        w.write_line(format!("{t}:{i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = mem.contents();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let seq: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t}:")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(seq, (0..500).collect::<Vec<_>>());
        }
        assert_eq!(w.dropped(), 0);
    }

    #[test]
    fn a_full_buffer_drops_and_counts() {
        struct Stuck(std::sync::Arc<std::sync::Barrier>, bool);
        impl Write for Stuck {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if !self.1 {
                    self.1 = true;
                    self.0.wait();
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let release = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (w, guard) = spawn(Box::new(Stuck(release.clone(), false)), 1024, "t").unwrap();
        let line = [b'x'; 100];
        for _ in 0..100 {
            w.write_line(&line);
        }
        // At most what fits in the buffer plus what the writer took before it stalled.
        assert!(
            w.dropped() >= 100 - 2 * (1024 / 100),
            "dropped {}",
            w.dropped()
        );
        release.wait();
        drop(guard);
    }

    #[test]
    fn a_small_buffer_is_drained_before_it_fills_not_only_every_interval() {
        // 2 KB of buffer, 100-byte lines written 20 a millisecond or slower (a sleep between
        // each), more than the buffer holds per 20 ms interval: the writer is woken at half the
        // buffer, so (almost) nothing is dropped (1 here). Woken only at the 256 KB mark it
        // drained every 20 ms and dropped 300.
        let mem = MemoryWriter::new();
        let (w, guard) = spawn(Box::new(mem.clone()), 2 * 1024, "t").unwrap();
        let line = [b'x'; 99];
        for _ in 0..400 {
            let mut l = line.to_vec();
            l.push(b'\n');
            w.write_line(&l);
            std::thread::sleep(Duration::from_micros(50));
        }
        drop(guard);
        // (Generous: the writer must be scheduled within about a millisecond of the wake.)
        assert!(w.dropped() < 150, "dropped {} of 400", w.dropped());
        assert_eq!(mem.contents().lines().count() as u64 + w.dropped(), 400);
    }
}
