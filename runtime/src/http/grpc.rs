//! gRPC calls through the request layer.
//!
//! A request whose `content-type` is `application/grpc` (or `application/grpc+proto`, ...) is a
//! gRPC call: its line and metrics use the method path (`/pkg.Service/Method`) as the route and
//! the call's `grpc-status` code as the status label; `grpc_status` (the number) and
//! `grpc_code` (`NOT_FOUND`) are on the line. The request id and `traceparent` come from the
//! call's metadata (metadata are HTTP/2 headers), and the id is echoed in the response metadata.
//!
//! Outcome classes: `OK` is `ok`; `CANCELLED` is `cancelled`; `INVALID_ARGUMENT`, `NOT_FOUND`,
//! `ALREADY_EXISTS`, `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED`, `FAILED_PRECONDITION`,
//! `ABORTED`, `OUT_OF_RANGE` and `UNAUTHENTICATED` are `client_error` (DEBUG line);
//! `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS`
//! are `server_error` (`request.failed`, ERROR line). A call the server answers `UNIMPLEMENTED`
//! gets the route `unmatched`: a client-chosen path never becomes a label.
//!
//! Limit: the status is read from the response headers, where a "trailers-only" response
//! (every error a tonic unary handler returns) carries it. A response whose headers carry no
//! `grpc-status` (a successful call, whose status comes in the trailers) counts as `OK`: a
//! streaming call that fails after its first message is logged as `OK`.
//!
//! With feature `grpc`, [`grpc_layer`] is the layer for `tonic::transport::Server::layer`
//! (tonic's response body does not implement `From<String>`; the layer boxes it into axum's
//! body).

use http::{HeaderMap, HeaderValue, Response, header};

/// Longest method path kept as a route.
pub const MAX_METHOD: usize = 128;

pub(crate) const OK: u32 = 0;
pub(crate) const CANCELLED: u32 = 1;
pub(crate) const INVALID_ARGUMENT: u32 = 3;
pub(crate) const UNIMPLEMENTED: u32 = 12;
pub(crate) const INTERNAL: u32 = 13;

/// Whether the request is a gRPC call.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct == "application/grpc"
                || ct.starts_with("application/grpc+")
                || ct.starts_with("application/grpc;")
        })
}

/// The call's status from the response head: `grpc-status` when present (trailers-only
/// response), else `OK` for HTTP 200 (the status follows in the trailers) and, per the gRPC
/// HTTP mapping, a code for any other HTTP status.
pub(crate) fn status_of(http_status: u16, headers: &HeaderMap) -> u32 {
    if let Some(code) = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
    {
        return code.min(17);
    }
    match http_status {
        200 => OK,
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => UNIMPLEMENTED,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// The outcome class of a non-`OK` code.
pub(crate) fn class(code: u32) -> &'static str {
    match code {
        OK => "ok",
        CANCELLED => "cancelled",
        3 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 16 => "client_error",
        _ => "server_error",
    }
}

/// The canonical name of a code (`UNKNOWN` for codes outside the 17).
pub fn code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// A trailers-only gRPC answer (HTTP 200, status in the headers, empty body): what the layer
/// sends a gRPC client instead of its JSON 400/500 bodies.
pub(crate) fn trailers_only<RB: From<String>>(code: u32, message: &'static str) -> Response<RB> {
    let mut resp = Response::new(RB::from(String::new()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(code));
    h.insert("grpc-message", HeaderValue::from_static(message));
    resp
}

#[cfg(feature = "grpc")]
pub use layer::{BoxedBody, GrpcLayer, grpc_layer};

#[cfg(feature = "grpc")]
mod layer {
    use super::super::{RequestLayer, RequestService};
    use futures_util::TryFutureExt;
    use http::{Request, Response};
    use std::task::{Context, Poll};
    use tower_service::Service;

    /// The request layer for a tonic server: `Server::builder().layer(observa::http::grpc_layer())`.
    pub fn grpc_layer() -> GrpcLayer {
        GrpcLayer(RequestLayer::new())
    }

    /// [`RequestLayer`] for services whose response body is not `From<String>` (tonic's): the
    /// body is boxed into [`axum::body::Body`].
    #[derive(Clone, Debug)]
    pub struct GrpcLayer(pub RequestLayer);

    impl RequestLayer {
        /// This layer, for a tonic server (see [`GrpcLayer`]).
        pub fn grpc(self) -> GrpcLayer {
            GrpcLayer(self)
        }
    }

    impl<S> tower_layer::Layer<S> for GrpcLayer {
        type Service = RequestService<BoxedBody<S>>;

        fn layer(&self, inner: S) -> Self::Service {
            tower_layer::Layer::layer(&self.0, BoxedBody(inner))
        }
    }

    /// A service whose response body is boxed into [`axum::body::Body`].
    #[derive(Clone, Debug)]
    pub struct BoxedBody<S>(S);

    type Boxing<B> = fn(Response<B>) -> Response<axum::body::Body>;

    fn boxing<B>(r: Response<B>) -> Response<axum::body::Body>
    where
        B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        r.map(axum::body::Body::new)
    }

    impl<S, B, RB> Service<Request<B>> for BoxedBody<S>
    where
        S: Service<Request<B>, Response = Response<RB>>,
        RB: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        RB::Error: Into<axum::BoxError>,
    {
        type Response = Response<axum::body::Body>;
        type Error = S::Error;
        type Future = futures_util::future::MapOk<S::Future, Boxing<RB>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, req: Request<B>) -> Self::Future {
            self.0.call(req).map_ok(boxing::<RB> as Boxing<RB>)
        }
    }
}
