//! The completion event and the call span, defined once: their metadata name, their field
//! names and order, and the positions the call path writes by index.
//!
//! Every writer and reader goes through these constants: the call site (`__site!` and
//! `callsite`) builds the span and the events from them, the log layer and the Sentry
//! layer recognise completion events by [`COMPLETION`], and the raw-JSON `fields` channel
//! (`trusted_fields`) is honoured only for events observa itself emits.

use std::cell::Cell;

/// Name of the metadata of observa's own completion events (`<event>.completed` / `.failed`,
/// and the lines of the HTTP layer, the outbound client, lifecycles, fan-out and security).
pub const COMPLETION: &str = "observa.completion";

/// Field names of completion events, in order (the indices below).
pub const COMPLETION_FIELDS: &[&str] = &[EVENT, DURATION_MS, OUTCOME, ERROR, ERROR_TYPE, FIELDS];

/// `event`: the stable event id (`sync_job.completed`).
pub const EVENT: &str = "event";
/// `duration_ms`: the call's duration.
pub const DURATION_MS: &str = "duration_ms";
/// `outcome`: `success`, `client_error`, `server_error`, `panic`, `cancelled`.
pub const OUTCOME: &str = "outcome";
/// `error`: the rendered error (scrubbed and bounded by the log layer).
pub const ERROR: &str = "error";
/// `error_type`: the short type name of the error.
pub const ERROR_TYPE: &str = "error_type";
/// `fields`: a JSON object of recorded values, copied into the line as its members. Honoured
/// only when observa emitted it (`trusted_fields`); otherwise an ordinary text field.
pub const FIELDS: &str = "fields";

/// Positions in [`COMPLETION_FIELDS`].
pub(crate) mod at {
    pub(crate) const EVENT: usize = 0;
    pub(crate) const DURATION_MS: usize = 1;
    pub(crate) const OUTCOME: usize = 2;
    pub(crate) const ERROR: usize = 3;
    pub(crate) const ERROR_TYPE: usize = 4;
    pub(crate) const FIELDS: usize = 5;
    /// Number of completion fields.
    pub(crate) const LEN: usize = 6;
}

/// The call span's leading fields: the bound context ids, then the recorded fields.
pub const SPAN_CORRELATION_ID: &str = "correlation_id";
/// See [`SPAN_CORRELATION_ID`].
pub const SPAN_TENANT_ID: &str = "tenant_id";
/// See [`SPAN_CORRELATION_ID`].
pub const SPAN_USER_ID: &str = "user_id";
/// The call span's trailing fields, recorded at the end of the call.
pub const SPAN_OUTCOME: &str = "outcome";
/// See [`SPAN_OUTCOME`].
pub const SPAN_ERROR: &str = "error";
/// See [`SPAN_OUTCOME`]: `ERROR` on failure (the OpenTelemetry span status).
pub const SPAN_STATUS: &str = "otel.status_code";

/// Number of leading span fields (before the recorded ones).
pub(crate) const SPAN_HEAD: usize = 3;
/// Number of trailing span fields (after the recorded ones): outcome, error, status, in that
/// order.
pub(crate) const SPAN_TAIL: usize = 3;

thread_local! {
    /// The `fields` text of the completion event this thread is dispatching, by address and
    /// length: the one value the log layer copies as raw JSON.
    static TRUSTED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Runs `dispatch` (which emits one completion event carrying `fields` as its [`FIELDS`]
/// value) with `fields` marked as observa's own JSON. Any other event that borrows the
/// [`COMPLETION`] name, or any other text under [`FIELDS`], is written as ordinary, escaped
/// text.
pub(crate) fn with_trusted_fields<R>(fields: &str, dispatch: impl FnOnce() -> R) -> R {
    struct Reset((usize, usize));
    impl Drop for Reset {
        fn drop(&mut self) {
            TRUSTED.set(self.0);
        }
    }
    let _reset = Reset(TRUSTED.replace((fields.as_ptr() as usize, fields.len())));
    dispatch()
}

/// True when `value` is the `fields` text observa is dispatching on this thread (the very same
/// bytes, not equal ones).
#[inline]
pub(crate) fn trusted_fields(value: &str) -> bool {
    !value.is_empty() && TRUSTED.get() == (value.as_ptr() as usize, value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_dispatched_bytes_are_trusted() {
        let ours = String::from("{\"a\":1}");
        let copy = ours.clone();
        assert!(!trusted_fields(&ours));
        with_trusted_fields(&ours, || {
            assert!(trusted_fields(&ours));
            assert!(
                !trusted_fields(&copy),
                "equal text elsewhere is not trusted"
            );
            assert!(!trusted_fields(&ours[1..]));
        });
        assert!(!trusted_fields(&ours), "reset after the dispatch");
        let _ = std::panic::catch_unwind(|| with_trusted_fields(&ours, || panic!("subscriber")));
        assert!(!trusted_fields(&ours), "reset after a panic");
    }

    #[test]
    fn indices_match_the_names() {
        assert_eq!(COMPLETION_FIELDS.len(), at::LEN);
        assert_eq!(COMPLETION_FIELDS[at::EVENT], EVENT);
        assert_eq!(COMPLETION_FIELDS[at::DURATION_MS], DURATION_MS);
        assert_eq!(COMPLETION_FIELDS[at::OUTCOME], OUTCOME);
        assert_eq!(COMPLETION_FIELDS[at::ERROR], ERROR);
        assert_eq!(COMPLETION_FIELDS[at::ERROR_TYPE], ERROR_TYPE);
        assert_eq!(COMPLETION_FIELDS[at::FIELDS], FIELDS);
    }
}
