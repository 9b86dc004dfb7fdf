//! observa: observability for Rust backends, from one attribute per function.
//!
//! See the crate README for the tour. The public surface:
//! - [`observed`]: spans, stable log events, metrics and context binding per call;
//! - [`Record`]: what may be listed in `fields(...)`;
//! - [`init`] / [`Config`]: the runtime (log pipeline, metrics registry, exporters);
//! - [`context`]: correlation id, tenant and user bound for a scope, carried into tasks;
//! - [`metrics::render`]: the Prometheus text exposition.

pub use observa_macros::observed;
pub use observa_macros::Redact;

mod callsite;
pub mod config;
pub mod context;
mod init;
pub mod log;
pub mod audit;
pub mod metrics;
pub mod outcome;
mod rand;
mod site_macro;
pub mod record;
pub mod redact;
pub mod sensitive;

pub use config::{Config, ConfigError, MemoryWriter};
pub use context::{spawn, Context, FutureExt};
pub use init::{init, init_from_env, runtime_info, Guard, InitError, RuntimeInfo};
pub use log::Format;
pub use outcome::{Classify, ErrorClass, Outcome};
pub use record::{FieldValue, Record, RecordList, RecordObject, REDACTED};
pub use redact::{Redacted, Secret, redacted};

/// What generated code calls. Not public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::callsite::{field, AsyncCall, Bind, Bound, Call, Masked, Opts, Site};
    pub use crate::log::{COMPLETION, COMPLETION_FIELDS};
    pub use crate::sensitive::is_sensitive as __is_sensitive;
    pub use tracing::Level;
    pub use crate::outcome::probe::{
        debug_error, Probe, ViaAny, ViaClassifyDisplay, ViaClassifyError, ViaDebug, ViaDisplay,
        ViaError, ViaResult,
    };
    pub use crate::outcome::{ErrorClass, Finish};
    pub use tracing_core;
    pub use crate::redact::private as redact;
    pub use crate::sensitive::is_sensitive;
}
