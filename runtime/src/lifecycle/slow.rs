//! `#[observed(slow_ms = N)]`: the slow-call log of seed 004 (slow queries) for any call. A
//! successful call that took at least N ms is written as `<event>.completed` at WARN instead of
//! the site's level, never sampled out, with `slow_threshold_ms = N` next to `duration_ms`.
//! Failures keep their own levels.

/// The field naming the threshold a slow completion crossed.
pub(crate) const THRESHOLD_KEY: &str = "slow_threshold_ms";

/// Adds `slow_threshold_ms` to the recorded fields of a completion.
pub(crate) fn mark(fields: &mut Vec<u8>, threshold_ms: u64) {
    super::push_member(fields, THRESHOLD_KEY, |o| {
        crate::encode::json::write_u64(o, threshold_ms)
    });
}
