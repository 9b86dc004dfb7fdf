//! A full writer queue drops lines instead of blocking the application, and counts them.

use std::io::Write;
use std::sync::{Arc, Barrier};

/// A writer that blocks until released: the queue behind it fills up.
struct Stalled(Arc<Barrier>, bool);

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.1 {
            self.0.wait();
            self.1 = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn drops_are_counted_in_the_exposition() {
    let release = Arc::new(Barrier::new(2));
    let mut cfg = observa::Config::new("drops").with_writer(Stalled(release.clone(), false));
    cfg.log_queue_lines = 16;
    let guard = observa::init(cfg).unwrap();
    // The writer is stalled for the whole loop: if logging blocked on it, this would hang.
    for i in 0..1000u32 {
        tracing::info!(i, "line");
    }
    let text = observa::metrics::render();
    let dropped: f64 = text
        .lines()
        .find(|l| l.starts_with("observa_log_dropped_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no drop counter in\n{text}"));
    // 1,000 lines of ~100 bytes, a buffer of 16 x 512 bytes and at most one more buffer in the
    // stalled write: at most ~170 kept, the rest dropped and counted.
    assert!(dropped >= 700.0, "dropped {dropped}");
    assert!(dropped <= 1000.0, "dropped {dropped}");
    release.wait();
    drop(guard);
}
