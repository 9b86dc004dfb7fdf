//! What `#[audit]` generated code calls: building the record from the attribute's expressions,
//! the write-ahead `attempted` record, the outcome record, and panics recorded as failures.

use crate::audit::{self, Attempt, AuditError, NewRecord, Outcome, Policy, Severity};
use crate::record::Record;
use std::fmt;

/// Builds the record of an audited call. Every value is formatted with `Display` here, once;
/// arguments are not stored unless the attribute lists them.
#[doc(hidden)]
pub fn record(
    action: &'static str,
    actor: &dyn fmt::Display,
    target: Option<&dyn fmt::Display>,
    severity: Option<&'static str>,
    category: Option<&'static str>,
    reason: Option<&dyn fmt::Display>,
) -> NewRecord {
    let mut r = NewRecord::new(action, actor.to_string());
    if let Some(t) = target {
        r = r.target(t.to_string());
    }
    if let Some(s) = severity.and_then(Severity::parse) {
        r = r.severity(s);
    }
    if let Some(c) = category {
        r = r.category(c);
    }
    if let Some(why) = reason {
        r = r.reason(why.to_string());
    }
    r
}

/// `changes = (before, after)`: both recorded through [`Record`], so `Redact` types are stored
/// in their redacted form and `Secret`s as the mask; never plaintext.
#[doc(hidden)]
pub fn changes<B: Record + ?Sized, A: Record + ?Sized>(
    r: NewRecord,
    before: &B,
    after: &A,
) -> NewRecord {
    let b = serde_json::from_str(&crate::log::json::to_json_string(before.record()))
        .unwrap_or(serde_json::Value::Null);
    let a = serde_json::from_str(&crate::log::json::to_json_string(after.record()))
        .unwrap_or(serde_json::Value::Null);
    r.changes(b, a)
}

/// An actor/target/reason value: its `Display`, or the mask when its name is sensitive
/// (decided at compile time).
#[doc(hidden)]
#[inline]
pub fn display<const SENSITIVE: bool, T: fmt::Display>(v: &T) -> &dyn fmt::Display {
    if SENSITIVE {
        &crate::record::REDACTED
    } else {
        v
    }
}

/// The policy of an audited call.
#[doc(hidden)]
pub const fn policy(degrade: bool) -> Policy {
    if degrade {
        Policy::DegradeAndAlert
    } else {
        Policy::FailClosed
    }
}

/// An audited call in progress: its `attempted` record is written. Dropped while unwinding, it
/// writes a `failure` outcome of class `panic` (the panic then continues unchanged).
#[doc(hidden)]
#[must_use]
pub struct AuditCall {
    attempt: Option<Attempt>,
}

impl fmt::Debug for AuditCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditCall").finish_non_exhaustive()
    }
}

impl AuditCall {
    /// Writes the `attempted` record (sync). `Err` only under `fail_closed`.
    pub fn begin(r: NewRecord, policy: Policy) -> Result<AuditCall, AuditError> {
        audit::begin(r, policy).map(|a| AuditCall { attempt: Some(a) })
    }

    /// Writes the `attempted` record (async). `Err` only under `fail_closed`.
    pub async fn begin_async(r: NewRecord, policy: Policy) -> Result<AuditCall, AuditError> {
        audit::begin_async(r, policy)
            .await
            .map(|a| AuditCall { attempt: Some(a) })
    }

    /// Writes the outcome record (sync).
    pub fn finish(mut self, outcome: Outcome) -> Result<(), AuditError> {
        match self.attempt.take() {
            Some(a) => a.finish(outcome).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Writes the outcome record (async).
    pub async fn finish_async(mut self, outcome: Outcome) -> Result<(), AuditError> {
        match self.attempt.take() {
            Some(a) => a.finish_async(outcome).await.map(|_| ()),
            None => Ok(()),
        }
    }
}

impl Drop for AuditCall {
    fn drop(&mut self) {
        if let Some(a) = self.attempt.take()
            && std::thread::panicking()
        {
            // Best effort while unwinding: the error has nowhere to go but the fallback path
            // inside `finish` (degrade) or the `attempted` record left without an outcome.
            let _ = a.finish(Outcome::failure("panic", "panicked"));
        }
    }
}

/// The outcome of a returned `Result`.
#[doc(hidden)]
pub fn outcome_of<T, E: fmt::Display>(r: &Result<T, E>) -> Outcome {
    Outcome::from_result(r)
}
