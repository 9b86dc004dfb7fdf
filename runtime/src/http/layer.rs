//! The tower layer (see the module docs of [`crate::http`]).

use super::client_ip::{ForwardedHeader, IpCidr, ProxyTrust, resolve};
use super::metrics::{Families, HttpMetrics, HttpMetricsError};
use super::{CORRELATION_ID_HEADER, REQUEST_ID_HEADER, UNMATCHED, bounded, method_label};
use crate::carrier::{TraceParent, is_valid_request_id};
use crate::context::{Context, Id, ScopeGuard};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;
use tower_service::Service;

/// Longest user agent kept in a line.
pub const MAX_USER_AGENT: usize = 256;

/// What to do with an incoming request id that is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InvalidRequestId {
    /// Use a fresh id instead (the default: a broken proxy should not break the API).
    #[default]
    Replace,
    /// Answer 400 with a JSON body carrying a fresh id.
    Reject,
}

/// What the layer does with an incoming W3C `traceparent` (after validation: a malformed,
/// duplicated, all-zero or version `ff` value is always dropped and the request starts its own
/// trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TraceContextPolicy {
    /// Continue the caller's trace (same trace id, its span as remote parent) but decide
    /// sampling here: the incoming `sampled` flag is replaced by this service's own draw at the
    /// configured ratio, so a client cannot force every one of its requests into the exported
    /// traces (nor hide them). The default: callers are usually not trusted with the cost of
    /// tracing.
    #[default]
    Continue,
    /// Continue the caller's trace and honour its `sampled` flag (parent-based sampling). For
    /// services reached only through a gateway or peers that make the sampling decision.
    ContinueAndHonourSampled,
    /// Ignore incoming trace context: every request starts a new trace.
    Ignore,
}

#[derive(Clone, Debug)]
struct Settings {
    header: HeaderName,
    invalid: InvalidRequestId,
    excluded: Vec<String>,
    proxies: ProxyTrust,
    forwarded_header: ForwardedHeader,
    trace_context: TraceContextPolicy,
    /// Per-request resource tracking toggle (see [`crate::resource`]).
    resource: Option<Arc<crate::resource::http::Toggle>>,
    /// The metrics' families; `None`: the default shape, registered on first use.
    metrics: Option<Arc<Families>>,
}

/// The observa request layer. Build it with [`layer()`] and the builder methods; apply it with
/// axum's `Router::layer` so the route template ([`axum::extract::MatchedPath`]) is known.
#[derive(Clone, Debug)]
pub struct RequestLayer {
    cfg: Arc<Settings>,
}

/// The default request layer (see [`RequestLayer`]).
pub fn layer() -> RequestLayer {
    RequestLayer::new()
}

impl Default for RequestLayer {
    fn default() -> Self {
        RequestLayer::new()
    }
}

impl RequestLayer {
    /// `X-Request-ID`, replace invalid ids, exclude `/health` and `/metrics`, the client ip is
    /// the socket peer (no proxy trusted), incoming trace context continued with sampling
    /// decided here ([`TraceContextPolicy::Continue`]).
    pub fn new() -> RequestLayer {
        RequestLayer {
            cfg: Arc::new(Settings {
                header: HeaderName::from_static(REQUEST_ID_HEADER),
                invalid: InvalidRequestId::Replace,
                excluded: vec!["/health".into(), "/metrics".into()],
                proxies: ProxyTrust::None,
                forwarded_header: ForwardedHeader::XForwardedFor,
                trace_context: TraceContextPolicy::Continue,
                resource: None,
                metrics: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings)) -> RequestLayer {
        f(Arc::make_mut(&mut self.cfg));
        self
    }

    /// The header the request id is read from and echoed in (`X-Correlation-ID` is always
    /// accepted on intake too).
    pub fn request_id_header(self, name: HeaderName) -> RequestLayer {
        self.edit(|s| s.header = name)
    }

    /// What to do with an invalid incoming request id.
    pub fn on_invalid_request_id(self, policy: InvalidRequestId) -> RequestLayer {
        self.edit(|s| s.invalid = policy)
    }

    /// Paths (exact match) that get no log line and no metrics. Replaces the default list.
    pub fn excluded_paths<I, P>(self, paths: I) -> RequestLayer
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let v = paths.into_iter().map(Into::into).collect();
        self.edit(|s| s.excluded = v)
    }

    /// Believe the forwarding header of peers in these ranges: the client ip is the rightmost
    /// address of the chain that is not in them (see [`super::client_ip`]). Needs axum's
    /// `ConnectInfo` (`into_make_service_with_connect_info::<SocketAddr>()`).
    pub fn trusted_proxies<I>(self, ranges: I) -> RequestLayer
    where
        I: IntoIterator<Item = IpCidr>,
    {
        let v: Vec<IpCidr> = ranges.into_iter().collect();
        self.edit(|s| {
            s.proxies = if v.is_empty() {
                ProxyTrust::None
            } else {
                ProxyTrust::Cidrs(v)
            }
        })
    }

    /// `hops` proxies stand in front of the service (the nearest one is the socket peer): the
    /// client ip is the `hops`-th address from the right of the forwarding chain. `0` means no
    /// proxy (the default).
    pub fn trusted_proxy_hops(self, hops: usize) -> RequestLayer {
        self.edit(|s| {
            s.proxies = if hops == 0 {
                ProxyTrust::None
            } else {
                ProxyTrust::Hops(hops)
            }
        })
    }

    /// Which forwarding header the trusted proxies write (`X-Forwarded-For` by default, or RFC
    /// 7239 `Forwarded`). Only that one is read: the other is client-written.
    pub fn forwarded_header(self, which: ForwardedHeader) -> RequestLayer {
        self.edit(|s| s.forwarded_header = which)
    }

    /// What to do with an incoming `traceparent` (default [`TraceContextPolicy::Continue`]).
    pub fn trace_context(self, policy: TraceContextPolicy) -> RequestLayer {
        self.edit(|s| s.trace_context = policy)
    }

    /// The names, labels and buckets of the layer's metrics (see [`HttpMetrics`]), checked and
    /// registered now: a refused shape is an error and the layer is not built.
    ///
    /// ```no_run
    /// # fn build() -> Result<(), observa::http::HttpMetricsError> {
    /// use observa::http::HttpMetrics;
    ///
    /// let layer = observa::http::layer().try_metrics(
    ///     HttpMetrics::new()
    ///         .duration_histogram("portal_request_duration_seconds")
    ///         .status_on_duration(true)
    ///         .buckets([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
    /// )?;
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_metrics(self, shape: HttpMetrics) -> Result<RequestLayer, HttpMetricsError> {
        let families = Arc::new(shape.register()?);
        Ok(self.edit(|s| s.metrics = Some(families)))
    }

    /// [`RequestLayer::try_metrics`] for builder chains: a refused shape is logged (one ERROR
    /// line `observa.metrics_error` with the reason) and counted
    /// (`observa_internal_errors_total{kind="metrics"}`), and the layer keeps the metrics it had.
    pub fn metrics(self, shape: HttpMetrics) -> RequestLayer {
        match shape.register() {
            Ok(f) => self.edit(|s| s.metrics = Some(Arc::new(f))),
            Err(e) => {
                crate::metrics::internal_error("metrics");
                tracing::error!(
                    target: "observa",
                    event = "observa.metrics_error",
                    error = %e,
                    "request layer metrics refused; the layer keeps its previous metrics"
                );
                self
            }
        }
    }

    /// Declares the service level objective of a route template (as written in the router,
    /// `/orders/{id}`), measured on `http_requests_total` (5xx are errors) and
    /// `http_request_duration_seconds` (the latency threshold becomes a bucket bound). The
    /// objective is process-wide (see [`crate::slo`]) and feeds [`crate::ops`]. Declare it
    /// before the first request; a refused objective is logged (`observa.slo_error`), counted
    /// and left out.
    pub fn slo(self, route: &str, objective: crate::slo::Objective) -> RequestLayer {
        if let Err(e) = crate::slo::register_route(route, objective) {
            crate::metrics::internal_error("slo");
            tracing::error!(
                target: "observa",
                event = "observa.slo_error",
                route = route,
                error = %e,
                "route objective refused"
            );
        }
        self
    }

    /// Turns resource tracking ([`crate::resource`]) on for a request that sends `header` with
    /// `1`, `true`, `on` or `yes` when `allow` (the application's check, e.g. "is this an
    /// admin") returns true for its headers. Seed 003's `X-Debug-Resource-Tracking`. Requests
    /// the process-wide [`crate::resource::Policy`] picks are tracked either way.
    pub fn resource_tracking_header(
        self,
        header: HeaderName,
        allow: impl Fn(&HeaderMap) -> bool + Send + Sync + 'static,
    ) -> RequestLayer {
        let t = Arc::new(crate::resource::http::Toggle {
            header,
            allow: Box::new(allow),
        });
        self.edit(|s| s.resource = Some(t))
    }
}

impl<S> tower_layer::Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> RequestService<S> {
        RequestService {
            inner,
            cfg: self.cfg.clone(),
        }
    }
}

/// The service of [`RequestLayer`].
#[derive(Clone, Debug)]
pub struct RequestService<S> {
    inner: S,
    cfg: Arc<Settings>,
}

/// Attach to a response (as an extension) so the request line carries the error: the error
/// chain of a 5xx, rendered `a: b: c`. The text is the application's error messages; keep
/// secrets out of them (or use `Redact` types).
#[derive(Clone, Debug)]
pub struct ResponseError {
    chain: Arc<str>,
    error_type: &'static str,
}

impl ResponseError {
    /// From an error and its source chain; `error_type` is a short stable name
    /// (`"database"`, `"upstream"`).
    pub fn new(error_type: &'static str, e: &(dyn std::error::Error + 'static)) -> ResponseError {
        ResponseError {
            chain: crate::scrub::scrub(&crate::outcome::ErrorView::Error(e).to_string()).into(),
            error_type,
        }
    }

    /// Inserts this into `resp`'s extensions.
    pub fn attach<B>(self, resp: &mut Response<B>) {
        resp.extensions_mut().insert(self);
    }
}

/// One failed validation: the field and a code, never the value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// The field (`email`, `items[2].qty`).
    pub field: String,
    /// What is wrong (`required`, `invalid_format`, `too_long`).
    pub code: String,
}

/// Attach to a 400/422 response (as an extension) so the request line is logged at INFO with
/// `errors: [{"field":..,"code":..}]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidationErrors(pub Vec<Violation>);

impl ValidationErrors {
    /// Adds a violation.
    pub fn push(&mut self, field: impl Into<String>, code: impl Into<String>) {
        self.0.push(Violation {
            field: field.into(),
            code: code.into(),
        });
    }

    /// Inserts this into `resp`'s extensions.
    pub fn attach<B>(self, resp: &mut Response<B>) {
        resp.extensions_mut().insert(self);
    }
}

#[cfg(feature = "axum")]
type RouteTag = axum::extract::MatchedPath;

#[cfg(not(feature = "axum"))]
#[derive(Clone, Debug)]
struct RouteTag;

#[cfg(not(feature = "axum"))]
impl RouteTag {
    fn as_str(&self) -> &str {
        UNMATCHED
    }
}

#[cfg(feature = "axum")]
fn connect_ip<B>(req: &Request<B>) -> Option<IpAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(not(feature = "axum"))]
fn connect_ip<B>(_: &Request<B>) -> Option<IpAddr> {
    None
}

/// One request counted in the in-flight gauge until dropped: when the line is written, or
/// while unwinding when the inner service panics inside `call`.
struct InFlight(Option<Arc<Families>>);

impl InFlight {
    fn enter(cfg: &Settings) -> InFlight {
        let m = cfg.metrics.clone().or_else(Families::default_shape);
        if let Some(m) = &m {
            m.enter();
        }
        InFlight(m)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(m) = &self.0 {
            m.leave();
        }
    }
}

/// What the final line needs to know about the request.
struct Info {
    in_flight: InFlight,
    method: &'static str,
    route: Option<RouteTag>,
    client_ip: Option<IpAddr>,
    user_agent: Option<Box<str>>,
    trace_id: Option<u128>,
    id_replaced: bool,
    /// gRPC calls (`content-type: application/grpc*`): the method path, bounded.
    grpc_route: Option<Box<str>>,
    /// The call's `grpc-status` once known (see [`super::grpc`]).
    grpc_status: Option<u32>,
}

struct State {
    ctx: Context,
    request_id: Id,
    start: Instant,
    /// `None` for excluded paths: no line, no metrics.
    info: Option<Info>,
    /// Resource use over the request's polls (off unless tracked).
    meter: crate::resource::Meter,
    /// The server span (only when spans are exported and the path is not excluded).
    span: tracing::Span,
    /// gRPC calls: where the response body reports its end (see [`Watch`]).
    #[cfg(feature = "grpc")]
    watch: Option<Arc<Watch>>,
}

/// A gRPC call whose status comes in the trailers: its line and metrics wait for the end of the
/// response body, which [`super::grpc`]'s body wrapper reports. Either side may come first (the
/// head handed over, the body ended); the request is finished exactly once, by whichever comes
/// second.
#[cfg(feature = "grpc")]
pub(crate) struct Watch(std::sync::Mutex<WatchSlot>);

#[cfg(feature = "grpc")]
enum WatchSlot {
    /// The head is not out yet; `armed` once the body is wrapped.
    Open { armed: bool },
    /// The head is out; the request waits for its body's end (HTTP status kept).
    Waiting(Box<State>, u16),
    /// The body ended before the head was handed over.
    Ended(BodyEnd),
    /// Finished, or nothing to wait for.
    Done,
}

/// How a watched response body ended.
#[cfg(feature = "grpc")]
#[derive(Clone, Copy, Debug)]
pub(crate) enum BodyEnd {
    /// The call's `grpc-status` (from the trailers; `INTERNAL` when they carry none or the body
    /// failed).
    Status(u32),
    /// Dropped before its end: the client went away.
    Dropped,
}

#[cfg(feature = "grpc")]
impl Watch {
    fn new() -> Watch {
        Watch(std::sync::Mutex::new(WatchSlot::Open { armed: false }))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, WatchSlot> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The response body is wrapped: its end will be reported.
    pub(crate) fn arm(&self) {
        let mut slot = self.slot();
        if let WatchSlot::Open { .. } = *slot {
            *slot = WatchSlot::Open { armed: true };
        }
    }

    /// The body ended (or was dropped): finishes the request if it waits.
    pub(crate) fn end(&self, how: BodyEnd) {
        let mut slot = self.slot();
        match std::mem::replace(&mut *slot, WatchSlot::Done) {
            WatchSlot::Waiting(state, status) => {
                drop(slot);
                finish_after_body(*state, status, how);
            }
            WatchSlot::Open { .. } => *slot = WatchSlot::Ended(how),
            other => *slot = other,
        }
    }

    /// Hands the request over to the body. Gives it back when the body is not watched, or
    /// with how it ended when it already has.
    fn defer(&self, state: State, status: u16) -> Option<(State, Option<BodyEnd>)> {
        let mut slot = self.slot();
        match std::mem::replace(&mut *slot, WatchSlot::Done) {
            WatchSlot::Open { armed: true } => {
                *slot = WatchSlot::Waiting(Box::new(state), status);
                None
            }
            WatchSlot::Ended(how) => Some((state, Some(how))),
            _ => Some((state, None)),
        }
    }

    /// The request finished at its head: nothing to wait for.
    fn close(&self) {
        *self.slot() = WatchSlot::Done;
    }
}

/// The request line and metrics of a gRPC call whose body ended `how`.
#[cfg(feature = "grpc")]
fn finish_after_body(mut state: State, status: u16, how: BodyEnd) {
    match how {
        BodyEnd::Status(code) => {
            if let Some(i) = state.info.as_mut() {
                i.grpc_status = Some(code);
            }
            finish(state, status, End::Response, None);
        }
        BodyEnd::Dropped => finish(state, 499, End::Cancelled, None),
    }
}

/// The server span of a request: named after the route template (`GET /orders/{id}`, the gRPC
/// method), with the OpenTelemetry HTTP semantic-convention attributes, continuing the incoming
/// trace (already validated and, under [`TraceContextPolicy::Continue`], resampled here).
fn server_span(i: &Info, path: &str, tp: Option<TraceParent>) -> tracing::Span {
    let route = i
        .grpc_route
        .as_deref()
        .or_else(|| i.route.as_ref().map(|r| r.as_str()));
    let name = match (route, i.grpc_route.is_some()) {
        (Some(r), true) => r.to_owned(),
        (Some(r), false) => format!("{} {r}", i.method),
        (None, _) => i.method.to_owned(),
    };
    let span = tracing::info_span!(
        target: "observa::http",
        "http.server",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = i.method,
        http.route = route,
        url.path = bounded(path, 512),
        http.response.status_code = tracing::field::Empty,
        rpc.system = i.grpc_route.is_some().then_some("grpc"),
        rpc.grpc.status_code = tracing::field::Empty,
    );
    #[cfg(feature = "otlp")]
    if let Some(tp) = tp {
        crate::trace::adopt_remote_parent(&span, &tp.to_string());
    }
    #[cfg(not(feature = "otlp"))]
    let _ = tp;
    span
}

/// The request id to use: `(id, replaced)`; `replaced` when an id was sent but refused.
fn intake(header: &HeaderName, headers: &HeaderMap) -> (Id, bool) {
    let mut sent = false;
    for h in [header, &HeaderName::from_static(CORRELATION_ID_HEADER)] {
        for v in headers.get_all(h) {
            sent = true;
            if let Ok(s) = v.to_str()
                && is_valid_request_id(s)
            {
                return (Id::new(s), false);
            }
        }
    }
    (Id::generate(), sent)
}

/// The incoming trace context under `policy`: validated by the one parser
/// ([`TraceParent::parse`]), present once; under [`TraceContextPolicy::Continue`] the sampled flag is
/// this service's own decision.
fn incoming_trace(policy: TraceContextPolicy, headers: &HeaderMap) -> Option<TraceParent> {
    if policy == TraceContextPolicy::Ignore {
        return None;
    }
    // W3C: a request carrying several `traceparent` headers restarts the trace.
    let mut values = headers.get_all("traceparent").iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return None;
    };
    let tp = TraceParent::parse(v.to_str().ok()?)?;
    Some(match policy {
        TraceContextPolicy::Continue => tp.with_sampled(crate::trace::sample_locally(tp.sampled())),
        _ => tp,
    })
}

impl<S, B, RB> Service<Request<B>> for RequestService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: fmt::Display,
    RB: From<String>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, RB>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let headers = req.headers();
        let (request_id, replaced) = intake(&self.cfg.header, headers);
        let traceparent = incoming_trace(self.cfg.trace_context, headers);
        let mut ctx = Context::new().with_correlation_id(request_id.clone());
        if let Some(tp) = traceparent {
            ctx = ctx.with_traceparent(Id::from_display(&tp));
        }
        let excluded = self.cfg.excluded.iter().any(|p| p == req.uri().path());
        let info = (!excluded).then(|| {
            let cfg = &self.cfg;
            let client_ip = resolve(
                &cfg.proxies,
                cfg.forwarded_header,
                connect_ip(&req),
                headers,
            );
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| bounded(s, MAX_USER_AGENT).into());
            Info {
                in_flight: InFlight::enter(cfg),
                method: method_label(req.method()),
                route: req.extensions().get::<RouteTag>().cloned(),
                client_ip,
                user_agent,
                trace_id: traceparent.map(|t| t.trace_id),
                id_replaced: replaced,
                grpc_route: super::grpc::is_grpc(headers)
                    .then(|| bounded(req.uri().path(), super::grpc::MAX_METHOD).into()),
                grpc_status: None,
            }
        });
        if let Some(i) = &info {
            // For audit records written inside the request: where it came from. The session is
            // recorded as a keyed fingerprint of the session cookie, never the cookie itself.
            ctx = ctx.with_source(crate::context::RequestSource {
                client_ip: i.client_ip.map(|ip| ip.to_string()),
                user_agent: i.user_agent.as_deref().map(str::to_owned),
                session_fingerprint: session_cookie(headers)
                    .map(|v| crate::redact::fingerprint(v).to_string()),
            });
        }
        // Sentry (when on) keeps the route and the request's breadcrumbs while it runs.
        // Keyed by a number unique to this request, not by the client-chosen request id.
        #[cfg(feature = "sentry")]
        if let Some(i) = &info
            && let Some(key) = crate::sentry::request_started(i.route.as_ref().map(|r| r.as_str()))
        {
            ctx = ctx.with_request_key(key);
        }
        let meter =
            crate::resource::http::meter_for(self.cfg.resource.as_deref(), headers, info.is_some());
        let span = match &info {
            Some(i) if crate::trace::active() => server_span(i, req.uri().path(), traceparent),
            _ => tracing::Span::none(),
        };
        #[cfg(feature = "grpc")]
        let watch = info
            .as_ref()
            .filter(|i| i.grpc_route.is_some())
            .map(|_| Arc::new(Watch::new()));
        let state = State {
            ctx,
            request_id,
            start,
            info,
            meter,
            span,
            #[cfg(feature = "grpc")]
            watch: watch.clone(),
        };
        let kind = if replaced && self.cfg.invalid == InvalidRequestId::Reject {
            Kind::Rejected
        } else {
            #[cfg(feature = "grpc")]
            let req = {
                let mut req = req;
                if let Some(w) = watch {
                    req.extensions_mut().insert(super::grpc::WatchHandle(w));
                }
                req
            };
            Kind::Inner {
                fut: self.inner.call(req),
            }
        };
        ResponseFuture {
            kind,
            state: Some(state),
            header: self.cfg.header.clone(),
            _body: PhantomData,
        }
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] fut: F },
        Rejected,
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestService`]. Dropped before completion (the client went
    /// away), it still writes the request's line, with outcome `cancelled` and status 499.
    pub struct ResponseFuture<F, RB> {
        #[pin]
        kind: Kind<F>,
        state: Option<State>,
        header: HeaderName,
        _body: PhantomData<fn() -> RB>,
    }

    impl<F, RB> PinnedDrop for ResponseFuture<F, RB> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(state) = this.project().state.take() {
                finish(state, 499, End::Cancelled, None);
            }
        }
    }
}

impl<F, RB> fmt::Debug for ResponseFuture<F, RB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

fn json_response<RB: From<String>>(status: StatusCode, error: &str, id: &Id) -> Response<RB> {
    // `error` is a constant and `id` passed intake (or was generated): no escaping needed.
    let body = format!(r#"{{"error":"{error}","request_id":"{id}"}}"#);
    let mut resp = Response::new(RB::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn is_grpc_call(state: &State) -> bool {
    state.info.as_ref().is_some_and(|i| i.grpc_route.is_some())
}

fn echo<RB>(resp: &mut Response<RB>, header: &HeaderName, id: &Id) {
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        resp.headers_mut().insert(header.clone(), v);
    }
}

impl<F, RB, E> Future for ResponseFuture<F, RB>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: fmt::Display,
    RB: From<String>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(state) = this.state.as_mut() else {
            // Polled after completion: a caller bug; stay pending rather than panic.
            return Poll::Pending;
        };
        let panic_report;
        let out = match this.kind.project() {
            KindProj::Rejected => {
                let resp = if is_grpc_call(state) {
                    super::grpc::trailers_only(super::grpc::INVALID_ARGUMENT, "invalid_request_id")
                } else {
                    json_response(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_id",
                        &state.request_id,
                    )
                };
                Ok((resp, End::Rejected))
            }
            KindProj::Inner { fut } => {
                let guard = ScopeGuard::install(std::mem::take(&mut state.ctx));
                let entered = state.span.enter();
                state.meter.resume(true);
                let polled = catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
                state.meter.pause();
                drop(entered);
                state.ctx = guard.restore();
                match polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(resp))) => Ok((resp, End::Response)),
                    Ok(Poll::Ready(Err(e))) => Err(e),
                    Err(payload) => {
                        // Dropping a payload can itself panic; keep it from unwinding through us.
                        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                        // What the panic hook kept (message, bounded backtrace), for the line.
                        panic_report = crate::failure::last_panic();
                        let resp = if is_grpc_call(state) {
                            super::grpc::trailers_only(super::grpc::INTERNAL, "internal_error")
                        } else {
                            json_response(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "internal_error",
                                &state.request_id,
                            )
                        };
                        Ok((resp, End::Panic(panic_report.as_ref())))
                    }
                }
            }
        };
        let Some(mut state) = this.state.take() else {
            return Poll::Pending;
        };
        match out {
            Ok((mut resp, end)) => {
                echo(&mut resp, this.header, &state.request_id);
                let status = resp.status().as_u16();
                if let Some(i) = state.info.as_mut().filter(|i| i.grpc_route.is_some()) {
                    i.grpc_status = Some(super::grpc::status_of(status, resp.headers()));
                }
                // A gRPC call whose status follows in the trailers: finished when the body ends.
                #[cfg(feature = "grpc")]
                if let Some(w) = state.watch.take() {
                    let in_trailers = matches!(end, End::Response)
                        && status == 200
                        && super::grpc::code_in(resp.headers()).is_none();
                    if !in_trailers {
                        w.close();
                    } else {
                        match w.defer(state, status) {
                            None => return Poll::Ready(Ok(resp)),
                            Some((s, Some(how))) => {
                                finish_after_body(s, status, how);
                                return Poll::Ready(Ok(resp));
                            }
                            Some((s, None)) => state = s,
                        }
                    }
                }
                let ext = Ext {
                    error: resp.extensions().get::<ResponseError>(),
                    validation: resp.extensions().get::<ValidationErrors>(),
                };
                finish(state, status, end, Some(ext));
                Poll::Ready(Ok(resp))
            }
            Err(e) => {
                let msg = e.to_string();
                finish(state, 500, End::ServiceError(&msg), None);
                Poll::Ready(Err(e))
            }
        }
    }
}

enum End<'a> {
    Response,
    Rejected,
    Panic(Option<&'a crate::failure::PanicReport>),
    ServiceError(&'a str),
    Cancelled,
}

struct Ext<'a> {
    error: Option<&'a ResponseError>,
    validation: Option<&'a ValidationErrors>,
}

fn finish(state: State, status: u16, end: End<'_>, ext: Option<Ext<'_>>) {
    let Some(info) = state.info else { return };
    let elapsed = state.start.elapsed();
    // gRPC: the method is the route (unless the server does not know it: a client-chosen path
    // must not create series), the `grpc-status` code the status label.
    let grpc = match (&info.grpc_route, &end) {
        (Some(r), End::Response | End::Rejected | End::Panic(_)) => {
            let code = info.grpc_status.unwrap_or(match end {
                End::Rejected => super::grpc::INVALID_ARGUMENT,
                _ => super::grpc::INTERNAL,
            });
            Some((r, code))
        }
        (Some(r), End::ServiceError(_)) => Some((r, super::grpc::INTERNAL)),
        (Some(r), End::Cancelled) => Some((r, super::grpc::CANCELLED)),
        (None, _) => None,
    };
    let route = match grpc {
        Some((_, super::grpc::UNIMPLEMENTED)) => UNMATCHED,
        Some((r, _)) => &**r,
        None => info.route.as_ref().map(|r| r.as_str()).unwrap_or(UNMATCHED),
    };
    let families = info.in_flight.0.clone();
    drop(info.in_flight);
    if let Some(m) = families {
        let code = match grpc {
            Some((_, c)) => c.to_string(),
            None => status.to_string(),
        };
        m.observe(
            info.method,
            route,
            &code,
            state.ctx.tenant_id(),
            elapsed.as_secs_f64(),
        );
    }
    let error = ext.as_ref().and_then(|e| e.error);
    let validation = ext.as_ref().and_then(|e| e.validation);
    let (outcome, error_text, error_type): (&str, Option<&str>, Option<&str>) = match end {
        End::Panic(r) => (
            "panic",
            Some(r.map_or("handler panicked", |r| r.message.as_str())),
            Some("panic"),
        ),
        End::Cancelled => ("cancelled", None, None),
        End::ServiceError(m) => ("server_error", Some(m), Some("service")),
        End::Rejected => ("client_error", None, Some("invalid_request_id")),
        End::Response if grpc.is_some_and(|(_, c)| c != 0) => {
            let class = super::grpc::class(grpc.map_or(0, |(_, c)| c));
            (class, None, None)
        }
        End::Response if status >= 500 => (
            "server_error",
            error.map(|e| &*e.chain),
            error.map(|e| e.error_type),
        ),
        End::Response if status >= 400 => ("client_error", None, None),
        End::Response => ("ok", None, None),
    };
    let backtrace = match &end {
        End::Panic(Some(r)) => r.backtrace.as_deref(),
        _ => None,
    };
    let failed = matches!(end, End::Panic(_) | End::Cancelled | End::ServiceError(_))
        || status >= 500
        || outcome == "server_error";
    let event = if failed {
        "request.failed"
    } else {
        "request.completed"
    };
    let usage = state.meter.usage();
    if let Some(u) = &usage {
        crate::resource::observe(true, &[info.method, route], u);
    }
    let validation_errors = (status == 400 || status == 422)
        .then_some(validation)
        .flatten()
        .filter(|v| !v.0.is_empty());
    let fields = validation_errors.map(|v| {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"{\"errors\":[");
        for (i, x) in v.0.iter().take(32).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"field\":");
            crate::encode::json::write_str(&mut out, &x.field, 128);
            out.extend_from_slice(b",\"code\":");
            crate::encode::json::write_str(&mut out, &x.code, 128);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    });
    let fields = match (fields, usage) {
        (f, Some(u)) => {
            let mut out = f.unwrap_or_default();
            crate::resource::write_fields(&mut out, &u);
            Some(out)
        }
        (f, None) => f,
    }
    .map(|out| String::from_utf8(out).unwrap_or_default());
    let level = if failed && !matches!(end, End::Cancelled) {
        tracing::Level::ERROR
    } else if matches!(end, End::Cancelled)
        || (status < 400 && outcome != "client_error")
        || validation_errors.is_some()
        || status == 422
    {
        tracing::Level::INFO
    } else {
        tracing::Level::DEBUG
    };
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let trace_id = info.trace_id.map(|t| format!("{t:032x}"));
    let ip = info.client_ip.map(tracing::field::display);
    let ua = info.user_agent.as_deref();
    let replaced = info.id_replaced.then_some(true);
    let grpc_status = grpc.map(|(_, c)| u64::from(c));
    let grpc_code = grpc.map(|(_, c)| super::grpc::code_name(c));
    macro_rules! emit {
        ($lvl:expr) => {
            // `fields` is observa's own JSON: marked so the log layer copies it as members.
            crate::completion::with_trusted_fields(fields.as_deref().unwrap_or_default(), || {
                tracing::event!(
                    name: crate::log::COMPLETION,
                    target: "observa::http",
                    $lvl,
                    event = event,
                    duration_ms = duration_ms,
                    outcome = outcome,
                    error = error_text,
                    error_type = error_type,
                    fields = fields.as_deref(),
                    method = info.method,
                    route = route,
                    status = status as u64,
                    client_ip = ip,
                    user_agent = ua,
                    trace_id = trace_id.as_deref(),
                    request_id_replaced = replaced,
                    backtrace = backtrace,
                    grpc_status = grpc_status,
                    grpc_code = grpc_code,
                )
            })
        };
    }
    #[cfg(feature = "sentry")]
    let sentry_key = state.ctx.request_key();
    if !state.span.is_none() {
        state
            .span
            .record("http.response.status_code", u64::from(status));
        if let Some(c) = grpc_status {
            state.span.record("rpc.grpc.status_code", c);
        }
        if failed && !matches!(end, End::Cancelled) {
            state.span.record("otel.status_code", "error");
        }
    }
    state.span.in_scope(|| {
        state.ctx.scope(|| match level {
            tracing::Level::ERROR => emit!(tracing::Level::ERROR),
            tracing::Level::INFO => emit!(tracing::Level::INFO),
            _ => emit!(tracing::Level::DEBUG),
        })
    });
    #[cfg(feature = "sentry")]
    if let Some(key) = sentry_key {
        crate::sentry::request_finished(key);
    }
}

/// The `/metrics` handler: [`crate::metrics::render`] with the Prometheus text content type.
#[cfg(feature = "axum")]
pub async fn metrics_handler() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// The value of the first cookie whose name is sensitive (`session`, `sessionid`, `sid`-like
/// names under the shared sensitive-name rule), for the session fingerprint.
fn session_cookie(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| {
            let k = k.trim().to_ascii_lowercase();
            k == "sid" || k.contains("session")
        })
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}
