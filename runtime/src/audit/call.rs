//! What `#[audit]` generated code calls: building the record from the attribute's expressions,
//! the write-ahead `attempted` record, the outcome record, and panics recorded as failures.

use crate::audit::{self, Attempt, AuditError, AuditOutcome, NewRecord, Policy, Severity};
use crate::record::Record;
use std::fmt;
use std::future::{Future, IntoFuture};

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
pub(crate) struct AuditCall {
    attempt: Option<Attempt>,
}

impl fmt::Debug for AuditCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditCall").finish_non_exhaustive()
    }
}

impl AuditCall {
    /// Writes the `attempted` record (sync). `Err` only under `fail_closed`.
    pub(crate) fn begin(r: NewRecord, policy: Policy) -> Result<AuditCall, AuditError> {
        audit::begin(r, policy).map(|a| AuditCall { attempt: Some(a) })
    }

    /// Writes the `attempted` record (async). `Err` only under `fail_closed`.
    pub(crate) async fn begin_async(r: NewRecord, policy: Policy) -> Result<AuditCall, AuditError> {
        audit::begin_async(r, policy)
            .await
            .map(|a| AuditCall { attempt: Some(a) })
    }

    /// Writes the outcome record (sync).
    pub(crate) fn finish(mut self, outcome: AuditOutcome) -> Result<(), AuditError> {
        match self.attempt.take() {
            Some(a) => a.finish(outcome).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Writes the outcome record (async).
    pub(crate) async fn finish_async(mut self, outcome: AuditOutcome) -> Result<(), AuditError> {
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
            let _ = a.finish(AuditOutcome::failure("panic", "panicked"));
        }
    }
}

/// The outcome of a returned `Result`.
#[doc(hidden)]
pub(crate) fn outcome_of<T, E: fmt::Display>(r: &Result<T, E>) -> AuditOutcome {
    AuditOutcome::from_result(r)
}

// ---------------------------------------------------------------------------------------------
// The audited call around a body: what the expansion of `#[audit]` calls. Two families:
// the body returns `Result` (its outcome is read from it; an audit failure under `fail_closed`
// becomes the `Err` through `from`, the expansion's `From::from` spanned on the return type, a
// function pointer so a missing `From<AuditError>` is reported once, there),
// or anything else (`degrade_and_alert` only: the outcome is a success, audit failures are
// handled by the policy).

/// A synchronous audited call that returns `Result`: the `attempted` record, the body (not run
/// when that record fails under `fail_closed`), the outcome record.
#[doc(hidden)]
#[inline]
pub fn call<T, E: fmt::Display>(
    r: NewRecord,
    policy: Policy,
    from: fn(AuditError) -> E,
    body: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let call = match AuditCall::begin(r, policy) {
        Ok(c) => c,
        Err(e) => return Err(from(e)),
    };
    let ret = body();
    if let Err(e) = call.finish(outcome_of(&ret)) {
        return Err(from(e));
    }
    ret
}

/// A synchronous audited call that does not return `Result`.
#[doc(hidden)]
#[inline]
pub fn call_plain<R>(r: NewRecord, policy: Policy, body: impl FnOnce() -> R) -> R {
    let call = AuditCall::begin(r, policy).ok();
    let ret = body();
    if let Some(call) = call {
        let _ = call.finish(AuditOutcome::Success);
    }
    ret
}

/// An `async fn` audited call that returns `Result`: the `attempted` record when the future
/// first runs.
#[doc(hidden)]
pub async fn call_async<T, E: fmt::Display>(
    r: NewRecord,
    policy: Policy,
    from: fn(AuditError) -> E,
    body: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let call = match AuditCall::begin_async(r, policy).await {
        Ok(c) => c,
        Err(e) => return Err(from(e)),
    };
    let ret = body.await;
    if let Err(e) = call.finish_async(outcome_of(&ret)).await {
        return Err(from(e));
    }
    ret
}

/// An `async fn` audited call that does not return `Result`.
#[doc(hidden)]
pub async fn call_plain_async<F: Future>(r: NewRecord, policy: Policy, body: F) -> F::Output {
    let call = AuditCall::begin_async(r, policy).await.ok();
    let ret = body.await;
    if let Some(call) = call {
        let _ = call.finish_async(AuditOutcome::Success).await;
    }
    ret
}

/// A function that returns a future of a `Result`: the `attempted` record now, when the
/// function is called (under `fail_closed` a failure is the future's `Err`, and `body`, the
/// function's own code, does not run); the outcome record when the returned future completes.
/// Dropped before that, the attempt is recorded as a `cancelled` failure; a panicking poll as
/// a `panic` failure.
#[doc(hidden)]
pub fn call_future<T, E: fmt::Display, F: IntoFuture<Output = Result<T, E>>>(
    r: NewRecord,
    policy: Policy,
    from: fn(AuditError) -> E,
    body: impl FnOnce() -> F,
) -> impl Future<Output = Result<T, E>> {
    let state = match AuditCall::begin(r, policy) {
        Ok(call) => Ok((call, body())),
        Err(e) => Err(e),
    };
    async move {
        let (call, fut) = match state {
            Ok(v) => v,
            Err(e) => return Err(from(e)),
        };
        let ret = fut.await;
        if let Err(e) = call.finish_async(outcome_of(&ret)).await {
            return Err(from(e));
        }
        ret
    }
}

/// A function that returns a future of anything else.
#[doc(hidden)]
pub fn call_plain_future<F: IntoFuture>(
    r: NewRecord,
    policy: Policy,
    body: impl FnOnce() -> F,
) -> impl Future<Output = F::Output> {
    let state = (AuditCall::begin(r, policy).ok(), body());
    async move {
        let (call, fut) = state;
        let ret = fut.await;
        if let Some(call) = call {
            let _ = call.finish_async(AuditOutcome::Success).await;
        }
        ret
    }
}

// ---------------------------------------------------------------------------------------------
// Functions that return a future without being `async fn`.
//
// `impl Future<Output = T>` and a spelled-out `Pin<Box<dyn Future<Output = T> + ..>>` are seen by
// the macro, which writes the `attempted` record when the function is called and wraps the
// returned future to write the outcome when it completes. A type alias hides the future: with
// `#[audit(future)]` it is wrapped like the spelled-out form ([`box_future`]); without it, a
// function audited as synchronous whose return value is a boxed `dyn Future` fails to compile
// ([`not_a_boxed_future`]): its outcome would be that of creating the future.

use std::pin::Pin;

// The probe itself (`SyncCheck`, `SyncVia`) is `#[observed]`'s
// (`crate::callsite`): only the bound below, with `#[audit]`'s own message, is audit's.
use crate::callsite::NotAFuture;

/// The bound a synchronous audited call's return value passes unless it is a boxed future.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[audit]` cannot see that this function returns a future: it would record the creation of the future, not its outcome",
    label = "a boxed future behind a type alias",
    note = "write `#[audit(future)]` to record the outcome when the returned future completes"
)]
pub trait AuditSyncReturn {}

impl AuditSyncReturn for NotAFuture {}

/// Compile-time check of a synchronous audited call's return value (nothing runs).
#[doc(hidden)]
#[inline(always)]
pub fn not_a_boxed_future<S: AuditSyncReturn>(_: S) {}

/// A future boxed into the declared return type of an `#[audit(future)]` function.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[audit(future)]` needs a function that returns a boxed future, not `{Self}`",
    label = "not `Pin<Box<dyn Future<Output = _> + Send + '_>>`",
    note = "`future` is for a type alias of a boxed future such as `BoxFuture<'a, T>`; remove it to audit the call as synchronous"
)]
pub trait FromAuditedFuture<F> {
    fn from_future(f: F) -> Self;
}

impl<'a, F: Future + 'a> FromAuditedFuture<F> for Pin<Box<dyn Future<Output = F::Output> + 'a>> {
    #[inline]
    fn from_future(f: F) -> Self {
        Box::pin(f)
    }
}

impl<'a, F: Future + Send + 'a> FromAuditedFuture<F>
    for Pin<Box<dyn Future<Output = F::Output> + Send + 'a>>
{
    #[inline]
    fn from_future(f: F) -> Self {
        Box::pin(f)
    }
}

impl<'a, F: Future + Send + Sync + 'a> FromAuditedFuture<F>
    for Pin<Box<dyn Future<Output = F::Output> + Send + Sync + 'a>>
{
    #[inline]
    fn from_future(f: F) -> Self {
        Box::pin(f)
    }
}

/// Boxes an audited future into the declared (boxed) return type.
#[doc(hidden)]
#[inline]
pub fn box_future<R: FromAuditedFuture<F>, F>(f: F) -> R {
    R::from_future(f)
}
