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
//! Where the status is read: a "trailers-only" response (every error a tonic unary handler
//! returns) carries `grpc-status` in its headers, and the call is finished when the headers
//! are out. Any other response (a successful call, a streaming call) carries it in the
//! trailers: under [`grpc_layer`] the response body is watched, and the call's line, metrics,
//! in-flight gauge and span are finished when the body ends, with the trailers' code (a
//! streaming call that fails after its first message is logged with its error code, and its
//! duration covers the whole stream). A body that ends without a `grpc-status`, or fails, is
//! `INTERNAL`; a body dropped before its end (the client cancelled or went away) is
//! `CANCELLED`, line outcome `cancelled`. Each call is finished exactly once, whichever comes
//! first. With the plain [`RequestLayer`](super::RequestLayer) (no body watching), a response
//! whose headers carry no `grpc-status` counts as `OK`.
//!
//! With feature `grpc`, [`grpc_layer`] is the layer for `tonic::transport::Server::layer`
//! (tonic's response body does not implement `From<String>`; the layer boxes it into axum's
//! body). `observa::http::layer().try_metrics(...)?.grpc()` gives the same with other metric
//! names ([`super::HttpMetrics`]).

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
    if let Some(code) = code_in(headers) {
        return code;
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

/// The `grpc-status` of a header or trailer map, if any.
pub(crate) fn code_in(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map(|c| c.min(17))
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
pub use layer::{BoxedBody, BoxedFuture, GrpcLayer, grpc_layer};

/// Carries a gRPC call's [`Watch`](super::layer::Watch) from the request layer to
/// [`BoxedBody`] (a request extension, removed before the application sees the request).
#[cfg(feature = "grpc")]
#[derive(Clone)]
pub(crate) struct WatchHandle(pub(crate) std::sync::Arc<super::layer::Watch>);

#[cfg(feature = "grpc")]
mod layer {
    use super::super::layer::{BodyEnd, Watch};
    use super::super::{RequestLayer, RequestService};
    use super::{INTERNAL, WatchHandle, code_in};
    use http::{Request, Response};
    use std::future::Future;
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::sync::Arc;
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

    /// A service whose response body is boxed into [`axum::body::Body`] (and, for a gRPC call
    /// under the request layer, watched for its trailers).
    #[derive(Clone, Debug)]
    pub struct BoxedBody<S>(S);

    impl<S, B, RB> Service<Request<B>> for BoxedBody<S>
    where
        S: Service<Request<B>, Response = Response<RB>>,
        RB: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        RB::Error: Into<axum::BoxError>,
    {
        type Response = Response<axum::body::Body>;
        type Error = S::Error;
        type Future = BoxedFuture<S::Future, RB>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, mut req: Request<B>) -> Self::Future {
            let watch = req.extensions_mut().remove::<WatchHandle>().map(|h| h.0);
            BoxedFuture {
                fut: self.0.call(req),
                watch,
                _body: PhantomData,
            }
        }
    }

    pin_project_lite::pin_project! {
        /// The response future of [`BoxedBody`].
        pub struct BoxedFuture<F, RB> {
            #[pin]
            fut: F,
            watch: Option<Arc<Watch>>,
            _body: PhantomData<fn() -> RB>,
        }
    }

    impl<F, RB> std::fmt::Debug for BoxedFuture<F, RB> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("BoxedFuture").finish_non_exhaustive()
        }
    }

    impl<F, RB, E> Future for BoxedFuture<F, RB>
    where
        F: Future<Output = Result<Response<RB>, E>>,
        RB: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
        RB::Error: Into<axum::BoxError>,
    {
        type Output = Result<Response<axum::body::Body>, E>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.project();
            let resp = std::task::ready!(this.fut.poll(cx))?;
            Poll::Ready(Ok(match this.watch.take() {
                Some(w) => {
                    w.arm();
                    resp.map(|b| {
                        axum::body::Body::new(Watched {
                            inner: b,
                            watch: Some(w),
                        })
                    })
                }
                None => resp.map(axum::body::Body::new),
            }))
        }
    }

    pin_project_lite::pin_project! {
        /// A response body that reports its end (trailers, end, error or drop) to the watch.
        struct Watched<B> {
            #[pin]
            inner: B,
            watch: Option<Arc<Watch>>,
        }

        impl<B> PinnedDrop for Watched<B> {
            fn drop(this: Pin<&mut Self>) {
                if let Some(w) = this.project().watch.take() {
                    w.end(BodyEnd::Dropped);
                }
            }
        }
    }

    impl<B: http_body::Body> http_body::Body for Watched<B> {
        type Data = B::Data;
        type Error = B::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
            let mut this = self.project();
            let polled = this.inner.as_mut().poll_frame(cx);
            let end = match &polled {
                Poll::Pending => return polled,
                Poll::Ready(Some(Ok(frame))) => match frame.trailers_ref() {
                    Some(t) => Some(code_in(t).unwrap_or(INTERNAL)),
                    // Data: the body goes on unless it says it is over (without trailers).
                    None => this.inner.is_end_stream().then_some(INTERNAL),
                },
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => Some(INTERNAL),
            };
            if let Some(code) = end
                && let Some(w) = this.watch.take()
            {
                w.end(BodyEnd::Status(code));
            }
            polled
        }

        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> http_body::SizeHint {
            self.inner.size_hint()
        }
    }
}
