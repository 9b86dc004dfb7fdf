//! observa: observability for Rust backends, from one attribute per function.
//!
//! See the crate README for the tour. The public surface:
//! - [`observed`]: spans, stable log events, metrics and context binding per call;
//! - [`Record`]: what may be listed in `fields(...)`;
//! - [`init`] / [`Config`]: the runtime (log pipeline, metrics registry, exporters);
//! - [`context`]: correlation id, tenant and user bound for a scope, carried into tasks;
//! - [`metrics::render`]: the Prometheus text exposition.

pub use observa_macros::observed;

pub mod log;
pub mod record;
pub mod sensitive;

pub use record::{FieldValue, Record, RecordList, RecordObject, REDACTED};

/// What generated code calls. Not public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::sensitive::is_sensitive;
}
