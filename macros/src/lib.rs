//! Procedural macros of observa. Depend on `observa`, not on this crate: it re-exports them,
//! and the generated code reaches the runtime only through `::observa::__private`.
//!
//! Every macro is parse -> validate -> expand, with the same parts:
//!
//! - `common/`: `ctxt` (the one error context, checked before drop), `kw` (keyword constants:
//!   match arms and "expected one of" lists), `attr_path` (recognising `observed`,
//!   `observa::observed`, ...), `fn_shape` (sync, async, `#[async_trait]`, returned futures, and
//!   the return-type helpers), `item_fn` (a body that does not parse, kept as raw tokens),
//!   `sensitive_expr` (the identifiers a recorded value is judged by);
//! - `observed/` and `audit/`: `args` (the attribute's keys), `validate` (the rules between them
//!   and the function, into a `Plan`), `expand` (tokens only; the logic they call lives in the
//!   runtime);
//! - `redact/`: the same split for `#[derive(Redact)]`; `classify.rs` for `#[derive(Classify)]`.
//!
//! Generated code names everything by absolute path (`::core::..`, `::observa::..`), so it
//! compiles under `#![no_implicit_prelude]` and with prelude names shadowed (ui-tests).

mod audit;
mod classify;
mod common;
mod observed;

use proc_macro::TokenStream;

/// Writes a durable, tamper-evident audit record around a function.
///
/// ```text
/// #[audit(action = "user.suspend", actor = admin.id, target = user_id, severity = "high")]
/// async fn suspend_user(admin: &Admin, user_id: UserId) -> Result<(), AppError>
/// ```
///
/// (A `text` block: this crate cannot depend on `observa`, which its examples need. The
/// complete, compiled example is the `observa` crate's front page, section "Audit": a doctest
/// that writes and verifies a trail.)
///
/// `action` (a dotted name) and `actor` are required; optional `target`, `severity`
/// (`low`, `medium`, `high`, `critical`), `reason`, `category`, `changes = (before, after)`
/// (recorded through `observa::Record`, so `Redact` types are stored redacted) and
/// `policy = "fail_closed" | "degrade_and_alert"`. An `attempted` record is durably written
/// before the body and the outcome record after it; under `fail_closed` (the default) a write
/// failure returns the error through `From<observa::audit::AuditError>` and the body does not
/// run. A function that does not return `Result` must name `policy = "degrade_and_alert"`.
/// Arguments are not stored unless listed; `actor`, `target`, `reason` and each side of
/// `changes` are masked when any identifier of their expression is sensitive
/// (`target = api_token.as_str()`), and maps in `changes` mask the values under sensitive keys.
/// See the `observa::audit` module.
///
/// # Functions that return a future
///
/// A function that is not `async fn` but returns `impl Future<Output = T>` or a spelled-out
/// `Pin<Box<dyn Future<Output = T> + ..>>` (including a hand-written `Box::pin(async move { .. })`)
/// is audited as the operation its future performs: the `attempted` record is written when the
/// function is called (before its own code runs; under `fail_closed` a write failure becomes the
/// future's `Err` and the function's code does not run), and the outcome record when the
/// returned future completes, from its output `T` (`failure` on `Err`). A poll that panics is
/// recorded as a `failure` of class `panic`; a future dropped before it completes as a `failure`
/// of class `cancelled` (written in the background). `#[async_trait]` methods stay `async fn`s:
/// their `attempted` record is written when the future first runs.
///
/// A type alias hides the future (`futures::future::BoxFuture<'a, T>`, aliases of your own):
/// write `#[audit(future)]`; the alias must stand for `Pin<Box<dyn Future<Output = T> (+ Send
/// (+ Sync)) + 'a>>`, and the output is read from its last type argument (`BoxFuture<'a,
/// Result<U, E>>`). Without `future`, such a function fails to compile instead of recording the
/// creation of its future. Combined with `#[observed]` (either order), each attribute needs its
/// own `future` for an alias.
#[proc_macro_attribute]
pub fn audit(args: TokenStream, item: TokenStream) -> TokenStream {
    audit::audit(args.into(), item.into()).into()
}

/// Implements `observa::Classify` for an error type: `#[classify(client)]` on variants that are
/// the caller's fault (4xx), unmarked variants take the container's `#[classify(...)]` (server
/// by default); `error_type` is the variant name. The compiled example is on the
/// `observa::Classify` trait (a doctest of `observa`).
#[proc_macro_derive(Classify, attributes(classify))]
pub fn derive_classify(input: TokenStream) -> TokenStream {
    classify::derive(input.into()).into()
}

/// Instruments a function, a method or every method of an `impl` block.
///
/// ```text
/// #[observed(event = "sync_job", tenant, fields(job_id, rows = batch.len()))]
/// async fn sync_orders(tenant: TenantId, job_id: JobId, batch: Vec<Order>) -> Result<u64, SyncError>
/// ```
///
/// (A `text` block: this crate cannot depend on `observa`, which its examples need. The
/// complete, compiled example is the `observa` crate's front page, section "Quickstart", a
/// doctest.)
///
/// Arguments: `event`, `name`, `level`, `target`, `tenant` / `user` / `correlation` (bare: the
/// argument of that name; `= expr`: any `Display` value), `fields(a, b = expr)` (each value must
/// implement `observa::Record`; masked at compile time when the name or any identifier of the
/// expression is sensitive: `fields(login = password)` is masked; maps mask the values under
/// sensitive keys), `skip(a)` (bare
/// `skip`: not instrumented), `err` / `err(Debug)` / `err(client)` / `err(server)`, `ret`,
/// `metrics = false`, `metric = "family"`, `buckets = [..]` (seconds), `sample = 0.1`,
/// `started`, `future`. Outcomes are `ok`, `client_error`, `server_error`, `panic` and
/// `cancelled`; the return value is never changed and a panic is resumed unchanged. Works on
/// sync and async fns, every receiver, generics, `impl Trait` returns and `#[async_trait]` in
/// either order. `ret` is masked when the function's name (`api_token`, `get_password`) or an
/// identifier of what it returns (its tail expression, any `return` expression) is sensitive.
/// See the crate README for the full table and `observa::sensitive` for the rule.
///
/// # Bound fields
///
/// `bind(job_id, job_type = "shopify_sync")` binds named values for the call, structlog's
/// `bind_contextvars`: every log line, `#[observed]` span, audit record and spawned task inside
/// carries them (bare name: the argument of that name; `= expr`: any `Display` value; masked when
/// the name or an identifier of the expression is sensitive). `observa::context::bind_field(name, value)`
/// binds one from inside the body. Limits and rules: `observa::context::bind_field`.
///
/// # Metric shapes
///
/// `labels(job_type = "shopify_sync")` (constant string labels; they replace the `event` label),
/// `outcome_label = "status"` (the outcome label's name), `outcomes(ok = "completed", failed =
/// "failed")` (its values: keys `ok`, `client_error`, `server_error`, `panic`, `cancelled`, and
/// `failed` for every failure not named) and `duration_metric = "worker_job_duration_seconds"`
/// (the histogram's full name). So `metric = "worker_jobs"` with the above gives seed 001's
/// `worker_jobs_total{job_type,status}` and `worker_job_duration_seconds{job_type}`. Label names
/// `event`, `le`, `quantile`, `__*` and per-request ids (`tenant_id`, `user_id`, ...) are
/// compile errors; these keys conflict with `metrics = false` and with `slo(...)`. Sites sharing
/// a family must use the same label names (else the later one runs without metrics, logged).
///
/// # Functions that return a future
///
/// A function that is not `async fn` but returns `impl Future<Output = T>` or a spelled-out
/// `Pin<Box<dyn Future<Output = T> + ..>>` is instrumented as the async call it is: the call
/// starts when the function is called (its `fields` and bindings are read then, while the
/// arguments are still there), the function's own code and every poll of the returned future
/// run inside it, and it ends when the future completes, with the future's output as outcome
/// (`server_error`, `err`, `ret` apply to `T`); dropped before that, it is `cancelled`. The
/// returned future is wrapped without allocating (boxed only when the declared type is boxed,
/// or `impl Future + Unpin`).
///
/// A type alias hides the future from the macro (`futures::future::BoxFuture<'a, T>`,
/// `LocalBoxFuture`, aliases of your own). Write `#[observed(future)]` to instrument it like the
/// spelled-out form; the alias must stand for `Pin<Box<dyn Future<Output = T> (+ Send (+ Sync)) +
/// 'a>>`. Without `future`, such a function fails to compile instead of being timed as the
/// creation of its future (always `ok`, about 0 ms). Named future types that are values of their
/// own, such as `JoinHandle` or `Ready`, are not refused: the call is creating them.
#[proc_macro_attribute]
pub fn observed(args: TokenStream, item: TokenStream) -> TokenStream {
    observed::observed(args.into(), item.into()).into()
}

mod redact;

/// Redacted `Debug`, `observa::Record` and the redacted view (`observa::redacted`) for a struct
/// or an enum. Every policy (`#[redact]`, `email`, `last4`, `fingerprint`, `len`, `with = path`,
/// `public`, container `all`) is documented, with examples, in `observa::redact`.
#[proc_macro_derive(Redact, attributes(redact))]
pub fn derive_redact(input: TokenStream) -> TokenStream {
    redact::derive(input.into()).into()
}
