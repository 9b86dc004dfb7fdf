//! [`Failure`]: a handler's error as a response, with its chain on the request's line.

use super::layer::ResponseError;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::error::Error as StdError;
use std::fmt;

/// A handler error turned into a response: return `Result<T, Failure<E>>` from an axum handler
/// and `?` any `E: std::error::Error` into it.
///
/// ```
/// use axum::{Json, extract::Path};
/// # #[derive(serde::Serialize)]
/// # struct Order { id: u64 }
/// # #[derive(Debug)]
/// # struct DbError;
/// # impl std::fmt::Display for DbError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("db down") }
/// # }
/// # impl std::error::Error for DbError {}
/// # mod db {
/// #     pub fn load(id: u64) -> Result<super::Order, super::DbError> { Ok(super::Order { id }) }
/// # }
///
/// async fn get_order(Path(id): Path<u64>) -> Result<Json<Order>, observa::http::Failure<DbError>> {
///     Ok(Json(db::load(id)?)) // a DbError becomes a 500 whose chain is on the request's line
/// }
/// # fn main() {
/// #     let _: axum::Router = axum::Router::new().route("/orders/{id}", axum::routing::get(get_order));
/// # }
/// ```
///
/// The response is `{"error":"internal_error","request_id":"..."}` with status 500 (or the
/// status given to [`Failure::with_status`]; 4xx bodies say the status's name, `not_found`):
/// never the error text, which is for the logs. For a 5xx the error and its source chain
/// (`a: b: c`, scrubbed like any error text) and its type name go on the request's ERROR line
/// (`error`, `error_type`) and to Sentry when it is on; a 4xx line stays at DEBUG without them.
pub struct Failure<E> {
    error: E,
    status: StatusCode,
}

impl<E> Failure<E> {
    /// A 500 for `error`.
    pub fn new(error: E) -> Failure<E> {
        Failure {
            error,
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Answers with `status` instead (a 4xx is a client error: no chain on the line).
    pub fn with_status(mut self, status: StatusCode) -> Failure<E> {
        self.status = status;
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// The error, unwrapped.
    pub fn into_inner(self) -> E {
        self.error
    }
}

impl<E> From<E> for Failure<E> {
    fn from(error: E) -> Failure<E> {
        Failure::new(error)
    }
}

impl<E> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The error's own text may carry anything; the type and status are enough here.
        f.debug_struct("Failure")
            .field("status", &self.status)
            .field("error_type", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}

impl<E: StdError + 'static> IntoResponse for Failure<E> {
    fn into_response(self) -> Response {
        let code = if self.status.is_server_error() {
            "internal_error".to_owned()
        } else {
            self.status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
                .replace([' ', '-'], "_")
        };
        let mut body = Vec::with_capacity(96);
        body.extend_from_slice(b"{\"error\":");
        crate::encode::json::write_str(&mut body, &code, 64);
        if let Some(id) = crate::context::correlation_id() {
            body.extend_from_slice(b",\"request_id\":");
            crate::encode::json::write_str(&mut body, id.as_str(), 128);
        }
        body.push(b'}');
        let mut resp = (
            self.status,
            [(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if self.status.is_server_error() {
            ResponseError::new(
                crate::outcome::short_type_name(std::any::type_name::<E>()),
                &self.error,
            )
            .attach(&mut resp);
        }
        resp
    }
}
