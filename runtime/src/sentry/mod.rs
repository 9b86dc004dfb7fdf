//! Errors to Sentry (feature `sentry`), through the same redaction as every other sink.
//!
//! On when [`crate::Config::sentry_dsn`] is set (`OBSERVA_SENTRY_DSN`, or `SENTRY_DSN`); with it
//! unset nothing is installed (no layer, no thread, no client) and every function here is a
//! no-op that returns at once.
//!
//! What becomes an event:
//! - a server error or a panic of an `#[observed]` call (its `<event>.failed` line at ERROR);
//! - a failed request of the HTTP layer (`request.failed` at ERROR: 5xx, panic, service
//!   error). Inside a request, the first failing `#[observed]` call's error is kept and sent
//!   with the request's event, so a failed request is one event carrying the root cause and
//!   the route; a request that ends well (the handler recovered, or answered 4xx) sends nothing;
//! - [`capture_error`] and [`capture_message`], from anywhere;
//! - events that other code captures through `sentry`'s own API on the main hub (observa binds
//!   its client there), after the same `before_send`.
//!
//! Client errors (the 4xx class, `client_error` outcomes) never become events. Every event
//! carries as tags `correlation_id`, `tenant_id`, `user_id` (when bound), `route`, `method`,
//! `status` (requests), `trace_id` (a continued `traceparent` or the OTLP span), `event`,
//! `outcome` and `error_type`; the error chain as exceptions (root cause first); a panic's
//! bounded backtrace in `extra.backtrace`; the lines written before it in the same request
//! (or, outside requests, the process's latest lines) as breadcrumbs, at most
//! [`MAX_BREADCRUMBS`]. Breadcrumbs and the held cause belong to the request served (a key the
//! HTTP layer gives each request), not to its `X-Request-ID`: concurrent requests sent with the
//! same id keep their own. With OTLP export on, `trace_id` is that of the failing call's
//! exported span when the request did not continue a `traceparent`.
//!
//! Redaction: every event goes through `before_send`: key filter, error-text
//! scrubbing, production allowlist, request cookies, headers, bodies and query removed, user
//! e-mail, name and IP and the server name removed. Release is `<service>@<version>` unless set,
//! environment the runtime's unless set, `send_default_pii` is off and no default
//! integration is installed.
//!
//! Delivery: envelopes are queued (bounded, 256 envelopes) for one sender thread that
//! posts them with reqwest and rustls; the application never waits on the network. An
//! unreachable or refusing endpoint, or a full queue, is counted in
//! `observa_sentry_failed_total{reason}` (and [`stats`]); dropping the guard gives queued
//! events two seconds to leave.

mod layer;
pub(crate) mod scrub;
pub(crate) mod transport;

use crate::config::Config;
use crate::init::InitError;
use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub(crate) use layer::SentryLayer;

/// Breadcrumbs kept per request (and for events outside requests).
pub const MAX_BREADCRUMBS: usize = 32;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static CLIENT: OnceLock<Arc<sentry::Client>> = OnceLock::new();

/// Whether Sentry is configured and installed in this process.
pub fn is_enabled() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

fn client() -> Option<&'static Arc<sentry::Client>> {
    if is_enabled() { CLIENT.get() } else { None }
}

/// What happened to the envelopes handed to observa's Sentry transport so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Delivered (the endpoint answered 2xx).
    pub sent: u64,
    /// Not delivered: the endpoint was unreachable, timed out or refused.
    pub failed: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
}

/// Delivery counts (all zero when Sentry is off).
pub fn stats() -> Stats {
    let c = transport::counts();
    Stats {
        sent: c.sent.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
    }
}

/// Sends `error` and its source chain (root cause first, at most 16) as an error event with the
/// current context's tags. Returns false, at no cost, when Sentry is not configured.
pub fn capture_error<E: StdError + ?Sized + 'static>(error: &E) -> bool {
    let Some(c) = client() else { return false };
    let ty = crate::outcome::short_type_name(std::any::type_name::<E>());
    let mut ev = layer::base_event(sentry::Level::Error, None);
    ev.exception = layer::chain(ty, &error.to_string(), error.source()).into();
    ev.tags.insert("error_type".into(), ty.into());
    layer::send(c, ev);
    true
}

/// Sends `message` at `level` with the current context's tags. Returns false, at no cost, when
/// Sentry is not configured.
pub fn capture_message(message: &str, level: tracing::Level) -> bool {
    let Some(c) = client() else { return false };
    let mut ev = layer::base_event(layer::level(&level), None);
    ev.message = Some(message.to_owned());
    layer::send(c, ev);
    true
}

/// Waits up to `timeout` for queued events to leave; true when the queue drained.
pub fn flush(timeout: Duration) -> bool {
    client().is_none_or(|c| c.flush(Some(timeout)))
}

/// The installed client, kept by the runtime guard.
pub(crate) struct Installed {
    client: Arc<sentry::Client>,
}

impl Installed {
    pub(crate) fn layer(&self) -> SentryLayer {
        SentryLayer::new()
    }

    /// Makes this client the process's (once the pipeline is claimed: a refused `init` leaves
    /// nothing behind).
    pub(crate) fn activate(&self) {
        if CLIENT.set(self.client.clone()).is_err() {
            return;
        }
        // Other code's `sentry::capture_*` goes through the same client and `before_send`.
        sentry::Hub::main().bind_client(Some(self.client.clone()));
        ACTIVE.store(true, Ordering::Release);
    }

    /// Flushes (bounded) and closes the client.
    pub(crate) fn close(self) {
        ACTIVE.store(false, Ordering::Release);
        let _ = self.client.close(Some(Duration::from_secs(2)));
    }
}

/// Builds the client for `config` (not yet active), or `None` when no DSN is configured.
pub(crate) fn install(config: &Config) -> Result<Option<Installed>, InitError> {
    let Some(raw) = config.sentry_dsn.as_deref() else {
        return Ok(None);
    };
    // The DSN is never echoed: it carries the project key.
    let dsn: sentry::types::Dsn = raw.trim().parse().map_err(|e| {
        InitError::Config(crate::config::ConfigError {
            var: "OBSERVA_SENTRY_DSN",
            reason: format!("not a Sentry DSN ({e}); expected `https://<key>@<host>/<project>`"),
        })
    })?;
    let transport = transport::HttpTransport::start(
        dsn.envelope_api_url().to_string(),
        dsn.to_auth(Some(concat!("observa/", env!("CARGO_PKG_VERSION"))))
            .to_string(),
    )
    .map_err(InitError::Io)?;
    let production = config.is_production();
    let rate = config.sentry_sample_rate;
    if !(0.0..=1.0).contains(&rate) {
        return Err(InitError::Config(crate::config::ConfigError {
            var: "OBSERVA_SENTRY_SAMPLE_RATE",
            reason: format!("expected a number in [0, 1], got `{rate}`"),
        }));
    }
    let mut options = sentry::ClientOptions::new()
        .release(
            config
                .sentry_release
                .clone()
                .unwrap_or_else(|| format!("{}@{}", config.service_name, config.service_version)),
        )
        .environment(
            config
                .sentry_environment
                .clone()
                .unwrap_or_else(|| config.environment.clone()),
        )
        .sample_rate(rate)
        .max_breadcrumbs(MAX_BREADCRUMBS)
        .send_default_pii(false)
        .default_integrations(false)
        .before_send(move |e| scrub::before_send(e, production))
        .transport(transport)
        .shutdown_timeout(Duration::from_secs(2));
    options.dsn = Some(dsn);
    let client = Arc::new(sentry::Client::from(options));
    Ok(Some(Installed { client }))
}

/// A failure of an `#[observed]` call inside a request, held for the request's event.
pub(crate) struct Pending {
    pub(crate) exceptions: Vec<sentry::protocol::Exception>,
    pub(crate) tags: Vec<(&'static str, String)>,
    pub(crate) extra: sentry::protocol::Map<String, sentry::protocol::Value>,
    /// The trace id of the failing call's OTLP span (for a request without `traceparent`).
    pub(crate) trace_id: Option<String>,
}

/// A request in flight (only while Sentry is on).
#[derive(Default)]
pub(crate) struct InFlight {
    pub(crate) route: Option<String>,
    pub(crate) pending: Option<Pending>,
    pub(crate) crumbs: VecDeque<sentry::protocol::Breadcrumb>,
}

/// Requests in flight, keyed by the context's request key (unique per request, not the
/// client-chosen correlation id: two requests sent with the same `X-Request-ID` keep their own
/// breadcrumbs and cause).
pub(crate) fn requests() -> &'static Mutex<HashMap<u64, InFlight>> {
    static R: OnceLock<Mutex<HashMap<u64, InFlight>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Called by the HTTP layer when a request starts: the key its context carries while it runs
/// (`None`, at no cost, when Sentry is off).
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn request_started(route: Option<&str>) -> Option<u64> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    if !is_enabled() {
        return None;
    }
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut r = requests().lock().unwrap_or_else(|p| p.into_inner());
    r.insert(
        key,
        InFlight {
            route: route.map(str::to_owned),
            ..Default::default()
        },
    );
    Some(key)
}

/// Called by the HTTP layer once the request's line is written.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn request_finished(key: u64) {
    requests()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
}
