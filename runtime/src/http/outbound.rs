//! Outbound HTTP: a [`reqwest::Client`] wrapper that carries the context to the callee and
//! records every call.
//!
//! ```no_run
//! # async fn f() -> Result<(), reqwest::Error> {
//! let stripe = observa::http::outbound::Client::new(reqwest::Client::new()).provider("stripe");
//! let resp = stripe
//!     .get("https://api.stripe.com/v1/charges/ch_123?expand=customer")
//!     .endpoint("/v1/charges/{id}")
//!     .send()
//!     .await?;
//! # let _ = resp; Ok(()) }
//! ```
//!
//! Per call:
//! - injects `traceparent` (the context's trace, a fresh parent id; a new trace whose id is the
//!   correlation id when there is none) and `X-Request-ID` (the correlation id), unless the
//!   caller set them;
//! - writes one `external.request.completed` (INFO; WARN for a 4xx answer) or
//!   `external.request.failed` (ERROR: 5xx or no answer) line with `method`, `url` (safe: no
//!   user info, no fragment, values of sensitive query parameters masked, and the path is the
//!   caller's endpoint template when one is given, else the real path with secret-looking
//!   segments masked: see [`is_secret_segment`]), `status`,
//!   `duration_ms`, `provider`, `endpoint`; outside production also the request headers
//!   (sensitive ones masked) and a preview of the request body (at most
//!   [`MAX_BODY_PREVIEW`] bytes, values under sensitive JSON or form keys masked). In production
//!   (`observa::runtime_info().production`) metadata only.
//! - metrics `external_api_requests_total{provider,endpoint,status_code}` and
//!   `external_api_duration_seconds{provider,endpoint}`. `endpoint` is the template the caller
//!   gives, or the URL path with id-like and secret-looking segments replaced by `{id}`
//!   (bounded), so labels stay bounded and carry no webhook token; `status_code` is `error` when
//!   no answer came.
//!
//! Secrets in paths: webhook URLs carry their credential as a path segment (Slack
//! `/services/T…/B…/<token>`, Discord `/api/webhooks/<id>/<token>`). Give such calls an
//! [`RequestBuilder::endpoint`] template (`/services/{team}/{bot}/{token}`): the line then shows
//! the template, never the path. Without one, [`is_secret_segment`] decides, and it is a
//! heuristic: a secret shorter than 16 characters, or made of lowercase words, is not
//! recognised; a UUID is kept (resource ids are UUIDs far more often than credentials; a
//! capability URL that uses a UUID as its secret needs a template).
//!
//! Decision: the response body is not previewed, since reading it would change the caller's
//! streaming behaviour. Transport errors are logged by their source chain and kind, never by
//! reqwest's top-level message (which contains the full URL, query string included).

use crate::carrier::TraceParent;
use crate::context;
use crate::metrics::{CounterFamily, DEFAULT_BUCKETS, HistogramFamily};
use crate::record::REDACTED;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Longest request body preview, in bytes (development only).
pub const MAX_BODY_PREVIEW: usize = 512;

/// The instrumented client. Cheap to clone (shares the reqwest pool).
#[derive(Clone)]
pub struct Client {
    inner: reqwest::Client,
    provider: Arc<str>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new(reqwest::Client::new())
    }
}

impl Client {
    /// Wraps `inner`; the provider label is `external` until [`Client::provider`] names it.
    pub fn new(inner: reqwest::Client) -> Client {
        Client {
            inner,
            provider: Arc::from("external"),
        }
    }

    /// The external service's name (the `provider` label and field), e.g. `"stripe"`.
    pub fn provider(mut self, name: &str) -> Client {
        self.provider = Arc::from(super::bounded(name, 64));
        self
    }

    /// The wrapped reqwest client.
    pub fn inner(&self) -> &reqwest::Client {
        &self.inner
    }

    /// A request with `method` to `url`.
    pub fn request<U: reqwest::IntoUrl>(&self, method: reqwest::Method, url: U) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            inner: self.inner.request(method, url),
            endpoint: None,
        }
    }

    /// A GET request.
    pub fn get<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::GET, url)
    }

    /// A POST request.
    pub fn post<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::POST, url)
    }

    /// A PUT request.
    pub fn put<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::PUT, url)
    }

    /// A DELETE request.
    pub fn delete<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::DELETE, url)
    }

    /// Sends a built request (see [`RequestBuilder::send`]).
    pub async fn execute(
        &self,
        req: reqwest::Request,
        endpoint: Option<&str>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        send(self, req, endpoint).await
    }
}

/// A request being built: reqwest's builder plus the endpoint template.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct RequestBuilder {
    client: Client,
    inner: reqwest::RequestBuilder,
    endpoint: Option<String>,
}

impl RequestBuilder {
    /// The endpoint label (a template such as `/v1/charges/{id}`); bounded to 128 bytes.
    pub fn endpoint(mut self, template: &str) -> RequestBuilder {
        self.endpoint = Some(super::bounded(template, 128).to_owned());
        self
    }

    /// Adds a header.
    pub fn header<K, V>(mut self, key: K, value: V) -> RequestBuilder
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.inner = self.inner.header(key, value);
        self
    }

    /// Sets the body.
    pub fn body<T: Into<reqwest::Body>>(mut self, body: T) -> RequestBuilder {
        self.inner = self.inner.body(body);
        self
    }

    /// Sets a timeout for this request.
    pub fn timeout(mut self, t: Duration) -> RequestBuilder {
        self.inner = self.inner.timeout(t);
        self
    }

    /// Anything else reqwest's builder offers.
    pub fn with(
        mut self,
        f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> RequestBuilder {
        self.inner = f(self.inner);
        self
    }

    /// Sends the request, injecting the context and recording the call.
    pub async fn send(self) -> Result<reqwest::Response, reqwest::Error> {
        let req = self.inner.build()?;
        send(&self.client, req, self.endpoint.as_deref()).await
    }
}

struct OutMetrics {
    requests: CounterFamily,
    duration: HistogramFamily,
}

fn out_metrics() -> Option<&'static OutMetrics> {
    static M: OnceLock<Option<OutMetrics>> = OnceLock::new();
    M.get_or_init(|| {
        Some(OutMetrics {
            requests: CounterFamily::new(
                "external_api_requests_total",
                "Outbound HTTP calls by provider, endpoint template and status code",
                &["provider", "endpoint", "status_code"],
            )
            .ok()?,
            duration: HistogramFamily::new(
                "external_api_duration_seconds",
                "Outbound HTTP call duration by provider and endpoint template",
                &["provider", "endpoint"],
                DEFAULT_BUCKETS,
            )
            .ok()?,
        })
    })
    .as_ref()
}

/// True for query parameter and header names whose values are masked: the shared sensitive
/// list plus OAuth's `code` and signature-ish names (the scrubber's rule).
pub fn is_sensitive_param(name: &str) -> bool {
    crate::scrub::is_sensitive_param(name)
}

/// True when a URL path segment looks like a credential rather than a name or an id. The rule
/// (byte counts, on the segment as sent):
/// - at least 16 bytes, not a canonical UUID (`8-4-4-4-12` hex), not all decimal digits; and
/// - any of: more than 40 bytes; all hex digits (keys, hashes, signatures); a character
///   outside `[A-Za-z0-9-_.~]` (percent-encoded or base64 `+/=` material); mixed case like
///   random text (at least 2 upper and 2 lower case letters, the rarer case at least a quarter
///   of the letters, so `camelCaseNames` pass); or at least 4 digits among at least 4 letters.
///
/// `XXXXXXXXXXXXXXXXXXXXXXXX`-style Slack tokens, Discord tokens, API keys and JWTs match;
/// `webhooks`, `user_preferences_v2`, `T0000AAAA`, `2024-01-31` and UUIDs do not.
pub fn is_secret_segment(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.len() < 16 || is_uuid(seg) || b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if b.len() > 40 || b.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"-_.~".contains(c))
    {
        return true;
    }
    let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let lower = b.iter().filter(|c| c.is_ascii_lowercase()).count();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let mixed_case = upper >= 2 && lower >= 2 && upper.min(lower) * 4 >= upper + lower;
    mixed_case || (digits >= 4 && upper + lower >= 4)
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `path` with every secret-looking segment ([`is_secret_segment`]) replaced by `[REDACTED]`.
pub fn safe_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if is_secret_segment(seg) {
            REDACTED
        } else {
            seg
        });
    }
    out
}

/// The URL as it may be logged: scheme, host, port, path (secret-looking segments masked, see
/// [`is_secret_segment`]) and the query with the values of sensitive parameters replaced by
/// `[REDACTED]`; no user info, no fragment.
pub fn safe_url(url: &reqwest::Url) -> String {
    safe_url_with(url, None)
}

/// [`safe_url`] with the path replaced by the caller's endpoint template when there is one.
fn safe_url_with(url: &reqwest::Url, template: Option<&str>) -> String {
    let mut out = String::with_capacity(url.as_str().len().min(512));
    out.push_str(url.scheme());
    out.push_str("://");
    if let Some(h) = url.host_str() {
        out.push_str(h);
    }
    if let Some(p) = url.port() {
        out.push(':');
        out.push_str(&p.to_string());
    }
    match template {
        Some(t) => {
            if !t.starts_with('/') {
                out.push('/');
            }
            out.push_str(t);
        }
        None => out.push_str(&safe_path(url.path())),
    }
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(&mask_pairs(q));
    }
    out
}

use crate::scrub::mask_pairs;

/// The endpoint label of a path: id-like segments (digits, UUIDs, long hex, long tokens with
/// digits, secret-looking segments per [`is_secret_segment`]) become `{id}`; at most 8 segments
/// and 128 bytes.
pub fn endpoint_template(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(128));
    for (n, seg) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        if n == 8 {
            out.push_str("/…");
            break;
        }
        out.push('/');
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let idlike = (digits > 0 && digits == seg.len())
            || (seg.len() >= 16 && seg.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'))
            || (seg.len() >= 8 && digits > 0)
            || seg.len() > 40
            || is_secret_segment(seg)
            || !seg
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.~".contains(&c));
        out.push_str(if idlike { "{id}" } else { seg });
    }
    if out.is_empty() {
        out.push('/');
    }
    super::bounded(&out, 128).to_owned()
}

/// Request headers as a JSON object (names lowercase), sensitive values masked.
fn headers_json(out: &mut Vec<u8>, h: &HeaderMap) {
    out.push(b'{');
    for (i, (k, v)) in h.iter().take(32).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::encode::json::write_str(out, k.as_str(), 128);
        out.push(b':');
        let name = k.as_str();
        if is_sensitive_param(name) || name == "proxy-authorization" {
            crate::encode::json::write_str(out, REDACTED, 16);
        } else {
            crate::encode::json::write_str(out, v.to_str().unwrap_or("<binary>"), 256);
        }
    }
    out.push(b'}');
}

fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_sensitive_param(k) {
                    *v = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    mask_json(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_json),
        _ => {}
    }
}

/// A redacted preview of a request body: JSON with sensitive keys masked, form data with
/// sensitive values masked, otherwise only the length. Cut at [`MAX_BODY_PREVIEW`] bytes.
pub fn body_preview(body: &[u8]) -> String {
    let s = if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) {
        mask_json(&mut v);
        v.to_string()
    } else if let Ok(t) = std::str::from_utf8(body)
        && t.contains('=')
        && !t.contains(char::is_whitespace)
    {
        mask_pairs(t)
    } else {
        format!("<{} bytes>", body.len())
    };
    let cut = super::bounded(&s, MAX_BODY_PREVIEW);
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        s
    }
}

async fn send(
    client: &Client,
    mut req: reqwest::Request,
    endpoint: Option<&str>,
) -> Result<reqwest::Response, reqwest::Error> {
    let ctx = context::current();
    // A client span per call when spans are exported: its context is what the callee continues.
    let span = client_span(&ctx, req.method(), req.url(), endpoint);
    let tp = span_parent(&span).unwrap_or_else(|| TraceParent::for_context(&ctx).child());
    let headers = req.headers_mut();
    if !headers.contains_key("traceparent")
        && let Ok(v) = HeaderValue::from_str(&tp.to_string())
    {
        headers.insert(HeaderName::from_static("traceparent"), v);
    }
    if let Some(id) = ctx.correlation_id()
        && !headers.contains_key(super::REQUEST_ID_HEADER)
        && let Ok(v) = HeaderValue::from_str(id)
    {
        headers.insert(HeaderName::from_static(super::REQUEST_ID_HEADER), v);
    }
    let production = crate::runtime_info().is_none_or(|r| r.production);
    let method = super::method_label(req.method());
    let url = safe_url_with(req.url(), endpoint);
    let endpoint = match endpoint {
        Some(e) => e.to_owned(),
        None => endpoint_template(req.url().path()),
    };
    let details = (!production).then(|| {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"request_headers\":");
        headers_json(&mut out, req.headers());
        if let Some(b) = req.body().and_then(|b| b.as_bytes())
            && !b.is_empty()
        {
            out.extend_from_slice(b",\"request_body\":");
            crate::encode::json::write_str(&mut out, &body_preview(b), MAX_BODY_PREVIEW + 8);
        }
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    });
    let start = Instant::now();
    let result = tracing::Instrument::instrument(client.inner.execute(req), span.clone()).await;
    let elapsed = start.elapsed();
    let status = result.as_ref().ok().map(|r| r.status().as_u16());
    let code = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    if let Some(m) = out_metrics() {
        m.requests.get(&[&client.provider, &endpoint, &code]).inc();
        m.duration
            .get(&[&client.provider, &endpoint])
            .observe(elapsed.as_secs_f64());
    }
    let (error, error_type) = match &result {
        Ok(r) if r.status().is_server_error() => (None, Some("upstream_5xx")),
        Ok(_) => (None, None),
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else if e.is_body() || e.is_decode() {
                "body"
            } else {
                "request"
            };
            let mut chain = String::new();
            let mut src = std::error::Error::source(e);
            let mut depth = 0;
            while let Some(s) = src {
                if depth > 0 {
                    chain.push_str(": ");
                }
                chain.push_str(&s.to_string());
                src = s.source();
                depth += 1;
                if depth == 8 {
                    break;
                }
            }
            if chain.is_empty() {
                chain.push_str(kind);
            }
            (Some(chain), Some(kind))
        }
    };
    let failed = status.is_none_or(|s| s >= 500);
    let event = if failed {
        "external.request.failed"
    } else {
        "external.request.completed"
    };
    let outcome = match status {
        None => "error",
        Some(s) if s >= 500 => "server_error",
        Some(s) if s >= 400 => "client_error",
        Some(_) => "ok",
    };
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let provider: &str = &client.provider;
    macro_rules! emit {
        ($lvl:expr) => {
            // `fields` is observa's own JSON: marked so the log layer copies it as members.
            crate::completion::with_trusted_fields(details.as_deref().unwrap_or_default(), || {
                tracing::event!(
                    name: crate::log::COMPLETION,
                    target: "observa::http::outbound",
                    $lvl,
                    event = event,
                    duration_ms = duration_ms,
                    outcome = outcome,
                    error = error.as_deref(),
                    error_type = error_type,
                    fields = details.as_deref(),
                    method = method,
                    url = url.as_str(),
                    status = status.map(u64::from),
                    provider = provider,
                    endpoint = endpoint.as_str(),
                )
            })
        };
    }
    if !span.is_none() {
        if let Some(s) = status {
            span.record("http.response.status_code", u64::from(s));
        }
        if failed {
            span.record("otel.status_code", "error");
        }
    }
    span.in_scope(|| {
        if failed {
            emit!(tracing::Level::ERROR);
        } else if status.is_some_and(|s| s >= 400) {
            emit!(tracing::Level::WARN);
        } else {
            emit!(tracing::Level::INFO);
        }
    });
    result
}

/// The client span of a call (semantic-convention attributes; named `GET` or `GET <endpoint
/// template>`), child of the current span, or of the context's remote trace when there is no
/// current span. `Span::none()` when spans are not exported.
fn client_span(
    ctx: &context::Context,
    method: &reqwest::Method,
    url: &reqwest::Url,
    endpoint: Option<&str>,
) -> tracing::Span {
    if !crate::trace::active() {
        return tracing::Span::none();
    }
    let method = super::method_label(method);
    let name = match endpoint {
        Some(e) => format!("{method} {e}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        target: "observa::http::outbound",
        "http.client",
        otel.name = name.as_str(),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        server.address = url.host_str(),
        server.port = url.port_or_known_default().map(u64::from),
        url.full = safe_url_with(url, endpoint).as_str(),
        url.template = endpoint,
        http.response.status_code = tracing::field::Empty,
    );
    // No current span (an `#[observed]` call's own span counts: its OpenTelemetry context is
    // current): the context's remote trace is the parent.
    #[cfg(feature = "otlp")]
    if !crate::trace::in_span()
        && let Some(tp) = ctx.traceparent()
    {
        crate::trace::adopt_remote_parent(&span, tp);
    }
    #[cfg(not(feature = "otlp"))]
    let _ = ctx;
    span
}

#[cfg(feature = "otlp")]
fn span_parent(span: &tracing::Span) -> Option<TraceParent> {
    crate::trace::span_traceparent(span)
}

#[cfg(not(feature = "otlp"))]
fn span_parent(_: &tracing::Span) -> Option<TraceParent> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_masked() {
        let u = reqwest::Url::parse(
            "https://user:pw@api.x.com:8443/v1/a?token=abc&page=2&Signature=zz&code=c0de&api%5Fkey=k#frag",
        )
        .unwrap();
        let s = safe_url(&u);
        assert_eq!(
            s,
            "https://api.x.com:8443/v1/a?token=[REDACTED]&page=2&Signature=[REDACTED]&code=[REDACTED]&api%5Fkey=[REDACTED]"
        );
    }

    #[test]
    fn secret_segments() {
        for secret in [
            "QwErTyUiOpAsDfGhJkLzXcVb",
            "xoxb1234abcd5678efgh",
            "0123456789abcdef0123456789abcdef",
            "dGhpcyBpcyBhIHNlY3JldA==",
        ]
        .iter()
        .filter(|s| s.len() >= 16)
        {
            assert!(is_secret_segment(secret), "{secret}");
        }
        for name in [
            "webhooks",
            "user_preferences_v2",
            "T0000AAAA",
            "getUserProfileById",
            "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e",
            "12345678901234567890",
            "very-long-resource-name",
        ] {
            assert!(!is_secret_segment(name), "{name}");
        }
        assert_eq!(
            safe_path("/api/webhooks/123456789012345678/QwErTyUiOpAsDfGhJkLzXcVb"),
            "/api/webhooks/123456789012345678/[REDACTED]"
        );
    }

    #[test]
    fn endpoints_are_bounded() {
        assert_eq!(
            endpoint_template("/v1/users/12345/orders/3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e"),
            "/v1/users/{id}/orders/{id}"
        );
        assert_eq!(endpoint_template(""), "/");
        assert_eq!(
            endpoint_template("/services/T0000AAAA/B0000BBBB/QwErTyUiOpAsDfGhJkLzXcVb"),
            "/services/{id}/{id}/{id}"
        );
        assert_eq!(
            endpoint_template("/a/b/c/d/e/f/g/h/i/j"),
            "/a/b/c/d/e/f/g/h/…"
        );
    }

    #[test]
    fn bodies_are_masked() {
        let p = body_preview(br#"{"user":"a","password":"hunter2","nested":{"api_key":"k"}}"#);
        assert!(
            !p.contains("hunter2") && p.contains("\"user\":\"a\""),
            "{p}"
        );
        assert!(!p.contains("\"k\""), "{p}");
        let f = body_preview(b"grant_type=x&client_secret=s3cr3t");
        assert_eq!(f, "grant_type=x&client_secret=[REDACTED]");
        assert_eq!(body_preview(b"\x00\x01 binary"), "<9 bytes>");
        assert!(body_preview(&[b'a'; 2000]).len() < MAX_BODY_PREVIEW + 8);
    }
}
