//! HTTP integration: the tower/axum request layer (features `tower`, `axum`) and an
//! instrumented outbound client (feature `reqwest`).
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # fn main() {
//! use axum::{Router, routing::get};
//! # async fn list_orders() -> &'static str { "[]" }
//!
//! let app: Router = Router::new()
//!     .route("/tenants/{tenant}/orders", get(list_orders))
//!     .route("/metrics", get(observa::http::metrics_handler))
//!     // `Router::layer` (not a layer around the router) so the route template is known.
//!     .layer(observa::http::layer());
//! # let _ = app;
//! # }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! What the layer does per request, and why:
//! - **Request id intake.** The id comes from `X-Request-ID` (configurable) or
//!   `X-Correlation-ID`. It is accepted when [`is_valid_request_id`] holds (UUIDs, 32 hex, W3C
//!   trace ids, `[A-Za-z0-9._:-]{1,128}`); anything else is replaced by a fresh id (default) or
//!   answered with 400 ([`InvalidRequestId::Reject`]). A refused raw value is never logged,
//!   not even truncated: it is attacker-controlled text. The id is echoed in the response
//!   header and installed as the `correlation_id` of the request's [`Context`](crate::Context),
//!   so every line, span and audit record of the request carries it.
//! - **Trace continuation.** A valid incoming W3C `traceparent` is stored in the context; the
//!   outbound client sends the same trace id with a fresh parent id.
//! - **One line per request.** Exactly one `request.completed` (status < 500) or
//!   `request.failed` (5xx, panic, service error, client gone) with `method`, `route` (the axum
//!   route template, or `unmatched`), `status`, `duration_ms`, `outcome`, `client_ip`,
//!   `user_agent` (bounded), `trace_id` when a trace is continued, and `correlation_id`,
//!   `tenant_id`, `user_id` from the context as it is when the handler finishes (so
//!   [`crate::context::bind`] called by the handler or an auth middleware shows up). Never
//!   cookies, authorization headers, query strings or bodies. Levels: 2xx/3xx INFO, validation
//!   errors (400/422 with [`ValidationErrors`], or any 422) INFO with the list, other 4xx DEBUG,
//!   5xx ERROR with the error chain from [`ResponseError`] when the handler attached one.
//! - **Panics.** A handler panic is caught at the layer: one `request.failed` line with outcome
//!   `panic`, the panic message (with its location; scrubbed, neutralised and bounded like any
//!   error text) in `error` and, when `RUST_BACKTRACE` or `OBSERVA_PANIC_BACKTRACE=1` asks, a
//!   bounded `backtrace` (see [`crate::failure`]); the client gets only a 500 JSON body
//!   `{"error":"internal_error","request_id":"..."}`.
//! - **Handler errors.** Return `Result<_, Failure<E>>` ([`Failure`]) and `?` any
//!   `std::error::Error` into it: the 500's line carries the error chain, no hand wiring.
//! - **Metrics.** `http_requests_total{method,route,status}`,
//!   `http_request_duration_seconds{method,route}`, `http_requests_in_flight`. Route labels are
//!   templates and methods outside the standard nine are `other`, so a client cannot create
//!   series. Names, label names, buckets, the status on the histogram and a tenant label (only
//!   with a configured cardinality cap) are settings: [`HttpMetrics`] with
//!   [`RequestLayer::try_metrics`] (errors at build) or [`RequestLayer::metrics`] (errors
//!   logged and counted); see [`metrics`].
//! - **Spans.** When spans are exported (OTLP on), each request gets a server span named after
//!   its route template (`GET /orders/{id}`; `GET` when unmatched; the method path for gRPC)
//!   with `http.request.method`, `http.route`, `url.path` (`[FILTERED]` in production),
//!   `http.response.status_code` (and `rpc.system`, `rpc.grpc.status_code`); it continues the
//!   incoming trace or starts one, and the request line and every `#[observed]` span inside
//!   belong to it. The outbound client opens a client span per call and injects its id.
//! - **gRPC.** See [`grpc`].
//! - `/health` and `/metrics` are excluded from lines and metrics by default (they still get a
//!   request id).

#[cfg(feature = "tower")]
pub mod client_ip;
#[cfg(feature = "tower")]
pub use client_ip::{ForwardedHeader, InvalidCidr, IpCidr, ProxyTrust};
#[cfg(feature = "tower")]
pub mod grpc;
#[cfg(feature = "grpc")]
pub use grpc::{GrpcLayer, grpc_layer};
#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "tower")]
pub use layer::*;
#[cfg(feature = "tower")]
pub mod metrics;
#[cfg(feature = "tower")]
pub use metrics::{HttpMetrics, HttpMetricsError};

#[cfg(feature = "axum")]
mod failure;
#[cfg(feature = "axum")]
pub use failure::Failure;

#[cfg(feature = "reqwest")]
pub mod outbound;

pub use crate::carrier::{MAX_REQUEST_ID_LEN, TraceParent, is_valid_request_id};

/// Header carrying the request id by default.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Alternative request id header, accepted on intake.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
/// Route label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The metric label of an HTTP method: one of the nine standard methods, else `other`.
pub fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `s` cut to at most `max` bytes on a char boundary.
pub(crate) fn bounded(s: &str, max: usize) -> &str {
    crate::encode::text::prefix(s, max)
}
