//! Messaging fan-out: a broker consumer feeding many subscribers (SSE clients, websockets,
//! in-process tasks), with the visibility seed 000's phase 6 asks for.
//!
//! ```no_run
//! # use observa::fanout::{self, Filter, Hub, HubConfig};
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(HubConfig::new("events").with_metric_prefix("sse").with_queue_max(64))?;
//! # #[cfg(feature = "amqp")] {
//! # use observa::fanout::AmqpSource;
//! hub.consume(AmqpSource::new("amqp://127.0.0.1:5672/%2f", "events", "events.#"))?; // feature `amqp`
//! # }
//! # #[cfg(feature = "axum")]
//! # fn handler(hub: &Hub, tenant: String, job: String) -> impl axum::response::IntoResponse {
//! // in an axum handler (feature `axum`), after checking the caller may see `tenant`:
//! fanout::sse::stream(&hub, Filter::all().tenant(tenant).job(job))
//! # }
//! # Ok(())
//! # }
//! ```
//!
//! **Delivery.** [`Hub::publish`] (or the consume loop of a [`Source`]) puts each message in the
//! bounded queue (`queue_max`, default 256) of every subscriber whose [`Filter`] matches. A full
//! queue loses its *oldest* message (drop-oldest backpressure): a slow subscriber never slows
//! the others or the broker consumer, and sees the newest messages when it catches up. Delivery
//! is at most once: the AMQP source consumes with automatic acknowledgement.
//!
//! **Metrics** (observa's registry, so in [`crate::metrics::render`]): gauge
//! `subscribers_active`; counters `messages_consumed_total`, `messages_forwarded_total` (one per
//! subscriber queue a message entered) and `messages_dropped_total{reason}` with `reason` one of
//! `queue_full` (evicted from a full queue) or `no_subscribers` (consumed, matched nobody). Each
//! name takes the hub's prefix (`with_metric_prefix("sse")` gives `sse_subscribers_active`);
//! hubs sharing a prefix share the series.
//!
//! **Lines** (target `observa::fanout`; the payload is never logged; the routing and binding
//! keys are the fields `routing` and `binding`, since the log pipeline masks any field whose
//! name has the word `key`):
//! `fanout.started` / `fanout.stopped` (totals), `fanout.subscribed` / `fanout.unsubscribed`
//! (`subscriber_id`, `subscribers_active`, tenant and job of the filter), `fanout.connected`,
//! `fanout.retry` (WARN, one per attempt: `attempt`, `backoff_ms`, the last `error`),
//! `fanout.crashed` (ERROR, the error chain), `fanout.gave_up`, `fanout.source_ended`, and one
//! `fanout.dropped` WARN per drop burst of a subscriber: `routing` (the routing key), `tenant_id` and `job_id`
//! of the last dropped message when known, `queue_size`, `max_size`, `drop_reason`, `dropped` (in
//! the burst), `delivered` and `dropped_total` (the subscriber's totals), `subscribers_active`. A
//! burst ends when the subscriber empties its queue, unsubscribes, the hub stops, or the burst
//! has lasted `burst_window` (default 10 s; a subscriber that never catches up is reported once
//! per window). The SSE helper adds `sse.stream_started`, `sse.client_disconnected`,
//! `sse.stream_ended` ([`sse`]). In production (allowlist) mode, fields outside the log
//! allowlist are shown as `[FILTERED]` like any other event's.
//!
//! **Spans** (plain `tracing` spans, exported when something consumes spans): `fanout.connect`
//! around each connection attempt, `fanout.message` around the delivery of each message,
//! `fanout.send` around each step of an SSE stream.
//!
//! **Shutdown.** The consume loop holds the hub: call [`Hub::stop`] to end it (dropping every
//! clone of a consuming hub does not).
//!
//! **Health.** [`Hub::stats`] and [`Hub::last_error`] give the counters, the connection state
//! and the last source error for a health endpoint.

mod hub;
mod message;
mod source;

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "axum")]
pub mod sse;

pub use hub::{Hub, REASON_NO_SUBSCRIBERS, REASON_QUEUE_FULL, Subscription};
pub use message::{Filter, Message, ids_from_routing_key};
pub use source::{BoxError, Consumer, Source, SourceInfo, error_chain};

#[cfg(feature = "amqp")]
pub use amqp::AmqpSource;

use std::time::Duration;

/// Settings of a [`Hub`].
#[derive(Clone, Debug)]
pub struct HubConfig {
    pub(crate) name: String,
    pub(crate) metric_prefix: String,
    pub(crate) queue_max: usize,
    pub(crate) burst_window: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_retries: Option<u32>,
}

impl HubConfig {
    /// A hub named `name` (the `hub` field of its lines): no metric prefix, queues of 256,
    /// bursts reported at least every 10 s, backoff from 100 ms doubling to 30 s, retrying
    /// forever.
    pub fn new(name: impl Into<String>) -> HubConfig {
        HubConfig {
            name: name.into(),
            metric_prefix: String::new(),
            queue_max: 256,
            burst_window: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            max_retries: None,
        }
    }

    /// Prefix of the metric families (`sse` gives `sse_messages_consumed_total`).
    pub fn with_metric_prefix(mut self, prefix: impl Into<String>) -> HubConfig {
        self.metric_prefix = prefix.into();
        self
    }

    /// Capacity of each subscriber queue (at least 1).
    pub fn with_queue_max(mut self, n: usize) -> HubConfig {
        self.queue_max = n.max(1);
        self
    }

    /// Longest drop burst before it is reported and a new one begins.
    pub fn with_burst_window(mut self, d: Duration) -> HubConfig {
        self.burst_window = d;
        self
    }

    /// Backoff before the first retry, and its cap (doubling in between).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> HubConfig {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// Consecutive failed attempts after which the consume loop gives up (default: never).
    pub fn with_max_retries(mut self, n: u32) -> HubConfig {
        self.max_retries = Some(n);
        self
    }
}

/// Counters and connection state of a hub ([`Hub::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Subscribers attached now.
    pub subscribers_active: u64,
    /// Messages taken from the source.
    pub consumed: u64,
    /// Messages put in a subscriber queue (one per subscriber).
    pub forwarded: u64,
    /// Messages evicted from full queues.
    pub dropped_queue_full: u64,
    /// Messages that matched no subscriber.
    pub dropped_no_subscribers: u64,
    /// The source is connected.
    pub connected: bool,
    /// Failed connection attempts so far.
    pub retries: u64,
    /// Successful reconnections after a failure.
    pub reconnects: u64,
    /// The last source error (connect failure or crash), with its chain.
    pub last_error: Option<String>,
}

/// Errors of hub creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutError(String);

impl std::fmt::Display for FanoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FanoutError {}

impl FanoutError {
    pub(crate) fn new(msg: &str) -> FanoutError {
        FanoutError(msg.to_owned())
    }
}

impl From<crate::metrics::MetricsError> for FanoutError {
    fn from(e: crate::metrics::MetricsError) -> FanoutError {
        FanoutError(e.to_string())
    }
}
