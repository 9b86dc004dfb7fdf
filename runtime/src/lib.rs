//! observa: observability for Rust backends, from one attribute per function.
//!
//! See the crate README for the tour. The public surface:
//! - [`observed`]: spans, stable log events, metrics and context binding per call;
//! - [`Record`]: what may be listed in `fields(...)`;
//! - [`init`] / [`Config`]: the runtime (log pipeline, metrics registry, exporters);
//! - [`context`]: correlation id, tenant and user bound for a scope, carried into tasks;
//! - [`metrics::render`]: the Prometheus text exposition.

pub use observa_macros::Redact;
pub use observa_macros::{Classify, audit, observed};

pub mod audit;
mod audit_call;
mod callsite;
pub mod carrier;
pub mod config;
pub mod context;
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub mod http;
mod init;
pub mod log;
pub mod metrics;
pub mod outcome;
mod rand;
pub mod record;
pub mod redact;
pub mod sensitive;
mod site_macro;
pub mod trace;

pub use config::{Config, ConfigError, MemoryWriter};
pub use context::{Context, FutureExt, RequestSource, spawn};
pub use init::{Guard, InitError, RuntimeInfo, init, init_from_env, runtime_info};
pub use log::Format;
pub use outcome::{Classify, ErrorClass, Outcome};
pub use record::{FieldValue, REDACTED, Record, RecordList, RecordObject};
pub use redact::{Redacted, Secret, redacted};

/// What generated code calls. Not public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::callsite::{
        AsyncCall, Bind, Bound, Call, Masked, Opts, Site, SiteInfo, field, ret_ok, ret_plain,
    };
    pub use crate::log::{COMPLETION, COMPLETION_FIELDS};
    pub use crate::outcome::probe::{
        Probe, ViaAny, ViaClassifyDisplay, ViaClassifyError, ViaDebug, ViaDisplay, ViaError,
        ViaResult, debug_error,
    };
    pub use crate::outcome::{ErrorClass, Finish};
    pub use crate::redact::private as redact;
    pub use crate::sensitive::is_sensitive as __is_sensitive;
    pub use crate::sensitive::is_sensitive;
    pub use tracing::Level;
    pub use tracing_core;
    pub mod audit {
        pub use crate::audit::{AuditError, Outcome};
        pub use crate::audit_call::{AuditCall, changes, display, outcome_of, policy, record};
    }
}
