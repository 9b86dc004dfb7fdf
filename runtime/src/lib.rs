// The README is the crate's front page, and its Rust blocks are doctests of this crate, so none
// can drift from the API (`runtime/README.md` links to the workspace README, and is what
// `cargo package` ships, so the path resolves in the workspace and in the published crate).
#![doc = include_str!("../README.md")]
//!
//! ## The crate's public surface
//!
//! - [`observed`]: per call, a span (when something consumes spans), stable log events
//!   (`<event>.completed` / `<event>.failed` with `duration_ms`, `outcome`, `error`), a call
//!   counter by outcome, a duration histogram, an in-flight gauge, and the tenant, user and
//!   correlation id bound for everything inside;
//! - [`Record`]: what may be listed in `fields(...)`; [`Redact`] (derive), [`Secret`] and
//!   [`redacted`]: compile-time redaction ([`redact`]);
//! - [`audit`](macro@audit) and the [`audit`](mod@audit) module: a durable, hash-chained audit
//!   trail (SQLite, or PostgreSQL with feature `postgres`) and its verifier;
//! - [`init`] / [`Config`]: the runtime (log pipeline, metrics registry, exporters); [`layer`]:
//!   the same pipeline as a `tracing_subscriber::Layer` for a registry of your own;
//! - [`failure`]: panic messages and bounded backtraces on the failed call's line;
//! - [`sentry`](mod@crate::sentry) (feature `sentry`): server errors and panics to Sentry, scrubbed;
//! - [`context`]: correlation id, tenant and user bound for a scope, carried into tasks
//!   ([`spawn`]) and jobs ([`carrier`]);
//! - [`metrics::render`]: the Prometheus text exposition;
//! - [`http`] (features `axum`/`tower`, `reqwest`): the request layer and the outbound client;
//! - [`trace`] (feature `otlp`): OTLP/HTTP export of spans;
//! - [`slo`] and [`ops`]: objectives from `slo(...)` and HTTP routes, and what operations need
//!   from them: Prometheus recording and burn-rate alerting rules, a Grafana dashboard,
//!   runbooks and an event catalogue (Markdown and JSON Schema).
//! - [`lifecycle`]: WebSocket connections (axum helper with feature `ws`) and background jobs;
//! - [`resource`]: per-request CPU, allocation and I/O use (opt-in).
//!
//! The default build needs no external service: logs to stdout, metrics in-process, audit in an
//! embedded SQLite file. Without the default `enabled` feature the attributes validate their
//! arguments and return the function untouched.

// No `unsafe` here: the one `unsafe impl` (`GlobalAlloc` for `resource::CountingAlloc`) lives in
// its own crate, `observa-alloc` (runtime/alloc).
#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_docs)]

pub use observa_macros::Redact;
pub use observa_macros::{Classify, audit, observed};

pub mod audit;
mod callsite;
pub mod carrier;
pub mod completion;
pub mod config;
pub mod context;
mod encode;
pub mod failure;
pub mod fanout;
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub mod http;
mod init;
pub mod lifecycle;
pub mod log;
pub mod metrics;
pub mod ops;
pub mod outcome;
pub mod record;
pub mod redact;
pub mod resource;
mod scrub;
pub mod security;
pub mod sensitive;
#[cfg(feature = "sentry")]
pub mod sentry;
mod site_macro;
pub mod slo;
pub mod trace;

pub use config::{Config, ConfigError, MemoryWriter};
pub use context::{Context, FutureExt, RequestSource, spawn};
pub use init::{Guard, InitError, RuntimeInfo, init, init_from_env, layer, runtime_info};
pub use log::Format;
pub use outcome::{Classify, ErrorClass, Outcome};
pub use record::{FieldValue, REDACTED, Record, RecordList, RecordObject};
pub use redact::{Redacted, Secret, redacted};

/// What generated code calls. Not public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::callsite::{
        AsyncCall, BindProbe, BindViaDisplay, BindViaStr, Call, CallBinding, Instrumented,
        MaskedField, Opts, Probe, Site, SiteInfo, SyncCheck, SyncVia, ViaAny, ViaClassifyDisplay,
        ViaClassifyError, ViaDebug, ViaDisplay, ViaError, ViaResult, bound_value, box_future,
        debug_error, field, not_a_boxed_future, pinned, ret_ok, ret_plain,
    };
    pub use crate::completion::{
        COMPLETION, COMPLETION_FIELDS, SPAN_CORRELATION_ID, SPAN_ERROR, SPAN_OUTCOME, SPAN_STATUS,
        SPAN_TENANT_ID, SPAN_USER_ID,
    };
    pub use crate::context::BindValue;
    pub use crate::outcome::{ErrorClass, Finish};
    pub use crate::redact::private as redact;
    pub use crate::sensitive::is_sensitive as __is_sensitive;
    pub use crate::sensitive::is_sensitive;
    pub use crate::slo::{Objective, Registered};
    pub use inventory;
    pub use tracing::Level;
    pub use tracing_core;
    pub mod audit {
        pub use crate::audit::call::{
            box_future, call, call_async, call_future, call_plain, call_plain_async,
            call_plain_future, changes, display, not_a_boxed_future, policy, record,
        };
    }
}
