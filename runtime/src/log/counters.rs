//! The log pipeline's own counters, brought up to date before every metrics render:
//! `observa_log_dropped_total` (writer queue full), `observa_log_fields_renamed_total`,
//! `observa_log_fields_dropped_total` and `observa_log_lines_truncated_total`.

use super::{line, writer};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static DROPPED: OnceLock<Vec<writer::LineWriter>> = OnceLock::new();
static DROPPED_SEEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn install_drop_counters(counters: Vec<writer::LineWriter>) {
    let _ = DROPPED.set(counters);
}

inventory::submit! { crate::metrics::BeforeRender(sync_dropped_metric) }

/// Brings `observa_log_dropped_total` up to date (before every [`crate::metrics::render`]).
fn sync_dropped_metric() {
    static COUNTER: OnceLock<Option<prometheus::IntCounter>> = OnceLock::new();
    let Some(c) = COUNTER
        .get_or_init(|| {
            crate::metrics::counter(
                "observa_log_dropped_total",
                "Log lines dropped because the writer queue was full",
            )
            .ok()
        })
        .as_ref()
    else {
        return;
    };
    let total: u64 = DROPPED
        .get()
        .map(|v| v.iter().map(writer::LineWriter::dropped).sum())
        .unwrap_or(0);
    let seen = DROPPED_SEEN.swap(total, Ordering::Relaxed);
    if total > seen {
        c.inc_by(total - seen);
    }
    sync_line_counters();
}

/// Brings the key and line-bound counters up to date: `observa_log_fields_renamed_total`,
/// `observa_log_fields_dropped_total`, `observa_log_lines_truncated_total`.
fn sync_line_counters() {
    type Synced = (
        &'static AtomicU64,
        AtomicU64,
        Option<prometheus::IntCounter>,
    );
    static COUNTERS: OnceLock<[Synced; 3]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        let c = |name: &str, help: &str| crate::metrics::counter(name, help).ok();
        [
            (
                &line::RENAMED,
                AtomicU64::new(0),
                c(
                    "observa_log_fields_renamed_total",
                    "Event fields renamed because their key was already in the line",
                ),
            ),
            (
                &line::DROPPED,
                AtomicU64::new(0),
                c(
                    "observa_log_fields_dropped_total",
                    "Event fields dropped because their key and every renamed form were taken",
                ),
            ),
            (
                &line::TRUNCATED,
                AtomicU64::new(0),
                c(
                    "observa_log_lines_truncated_total",
                    "Log lines cut to the line bound (OBSERVA_LOG_MAX_LINE_BYTES)",
                ),
            ),
        ]
    });
    for (source, seen, counter) in counters {
        let total = source.load(Ordering::Relaxed);
        let before = seen.swap(total, Ordering::Relaxed);
        if let Some(c) = counter
            && total > before
        {
            c.inc_by(total - before);
        }
    }
}
