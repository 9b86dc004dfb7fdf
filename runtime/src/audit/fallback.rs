//! The `degrade_and_alert` fallback: records the store could not take are written as JSON lines
//! to a fallback file (or standard error), counted, and announced with an ERROR log line
//! `audit.degraded`. Fallback lines are not part of any hash chain: they are evidence for a human,
//! to be re-entered or reviewed after the incident. Like every sink, they go through the one
//! neutraliser ([`crate::log::neutralise`]), and the error text through the URL scrubber.

use super::config::FallbackSink;
use super::error::AuditError;
use super::record::{AuditOutcome, NewRecord};
use super::util;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

static DEGRADED: AtomicU64 = AtomicU64::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);
static SINK: OnceLock<Mutex<FallbackSink>> = OnceLock::new();

fn sink() -> &'static Mutex<FallbackSink> {
    SINK.get_or_init(|| {
        let s = std::env::var("OBSERVA_AUDIT_FALLBACK")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|p| FallbackSink::File(p.into()))
            .unwrap_or_default();
        Mutex::new(s)
    })
}

/// Sets the process-wide fallback sink (done by [`crate::audit::install`]).
pub fn set_fallback_sink(s: FallbackSink) {
    match sink().lock() {
        Ok(mut g) => *g = s,
        Err(p) => *p.into_inner() = s,
    }
}

/// Records written to the fallback sink since the process started (the value behind the
/// `audit_degraded_total` alert).
pub fn degraded_count() -> u64 {
    DEGRADED.load(Ordering::Relaxed)
}

/// Records that could not be written anywhere (store, fallback file and standard error all
/// failed).
pub fn lost_count() -> u64 {
    LOST.load(Ordering::Relaxed)
}

/// Writes `record` to the fallback sink because of `error`; `attempt_id` links an outcome to a
/// degraded attempt. Never fails: the worst case is a counted loss.
pub(crate) fn degrade(
    record: &NewRecord,
    outcome: &AuditOutcome,
    attempt_id: Option<&str>,
    error: &AuditError,
) {
    DEGRADED.fetch_add(1, Ordering::Relaxed);
    static COUNTER: OnceLock<Option<prometheus::IntCounter>> = OnceLock::new();
    if let Some(c) = COUNTER.get_or_init(|| {
        crate::metrics::counter(
            "audit_degraded_total",
            "Audit records written to the degrade_and_alert fallback sink instead of the trail",
        )
        .ok()
    }) {
        c.inc();
    }
    let now = std::time::SystemTime::now();
    let line = serde_json::json!({
        "event": "audit.fallback",
        "time": util::rfc3339_micros(now),
        "id": util::uuid_v7(now),
        "error": crate::scrub::scrub(&error.to_string()),
        "error_kind": error.kind().as_str(),
        "action": record.action,
        "category": record.category,
        "outcome": outcome,
        "reason": record.reason,
        "actor": record.actor,
        "user_id": record.user,
        "target": record.target,
        "source": record.source,
        "correlation": record.correlation,
        "tenant": record.tenant,
        "changes": record.changes,
        "bound": record
            .bound
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "severity": record.severity,
        "attempt_id": attempt_id,
    });
    // The one neutraliser of every sink: serde_json leaves C1, bidi and invisible characters raw.
    let mut text = crate::log::neutralise::neutralise_json(&line.to_string()).into_owned();
    text.push('\n');
    // ERROR line: the alert. The record itself only goes to the fallback sink.
    tracing::error!(
        target: "observa::audit",
        event = "audit.degraded",
        action = %record.action,
        error = %error,
        error_kind = error.kind().as_str(),
        degraded_total = degraded_count(),
        "audit record written to the fallback sink"
    );
    let guard = match sink().lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let written = match &*guard {
        FallbackSink::Stderr => false,
        FallbackSink::File(path) => write_file(path, text.as_bytes()).is_ok(),
    };
    if !written {
        let mut err = std::io::stderr().lock();
        if err
            .write_all(text.as_bytes())
            .and_then(|_| err.flush())
            .is_err()
        {
            LOST.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}
