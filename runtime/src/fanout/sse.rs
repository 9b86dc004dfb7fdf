//! Server-sent events from a hub (feature `axum`).
//!
//! ```
//! use axum::extract::{Path, State};
//! use axum::response::IntoResponse;
//! use observa::fanout::{Filter, Hub};
//!
//! async fn events(State(hub): State<Hub>, Path((tenant, job)): Path<(String, String)>)
//!     -> impl IntoResponse
//! {
//!     // check here that the caller may read `tenant`
//!     observa::fanout::sse::stream(&hub, Filter::all().tenant(tenant).job(job))
//! }
//! # fn main() {
//! #     let _: axum::Router<Hub> =
//! #         axum::Router::new().route("/events/{tenant}/{job}", axum::routing::get(events));
//! # }
//! ```
//!
//! Each stream is one hub subscription. Lines (target `observa::fanout`, with the request's
//! correlation id when created inside a request, and the filter's tenant and job):
//! `sse.stream_started` (`subscriber_id`) when the response is created; when the client goes away
//! (the server notices on the next write, a message or the 15 s keep-alive comment)
//! `sse.client_disconnected`; and always `sse.stream_ended` with `reason`
//! (`client_disconnected` or `hub_stopped`), `events_sent` and `duration_ms`. The payload is
//! written to the client, never to a line.

use super::hub::{Hub, Subscription, TARGET};
use super::message::{Filter, Message};
use crate::context::{self, Context};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Instant;
use tracing::Instrument as _;

/// The default event: the payload as UTF-8 text (invalid sequences replaced) in `data`.
pub fn default_event(m: &Message) -> Event {
    Event::default().data(String::from_utf8_lossy(m.payload()))
}

/// An SSE response streaming the messages `filter` selects, with the lifecycle lines and a
/// keep-alive comment every 15 s.
pub fn stream(
    hub: &Hub,
    filter: Filter,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + Send + 'static + use<>> {
    stream_with(hub, filter, default_event)
}

/// [`stream`] with your own mapping of a message to an event (name, id, JSON data...).
pub fn stream_with<F>(
    hub: &Hub,
    filter: Filter,
    to_event: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + Send + 'static + use<F>>
where
    F: Fn(&Message) -> Event + Send + 'static,
{
    let mut ctx = context::current();
    if let Some(t) = filter.tenant_id() {
        ctx = ctx.with_tenant_id(t);
    }
    let job = filter.job_id().map(str::to_owned);
    let sub = ctx.clone().scope(|| hub.subscribe(filter));
    let span = tracing::info_span!(
        target: TARGET,
        "fanout.send",
        hub = %hub.name(),
        subscriber_id = sub.id(),
    );
    let life = Lifecycle {
        ctx,
        job,
        hub: hub.name().to_owned(),
        subscriber_id: sub.id(),
        started: Instant::now(),
        sent: 0,
        hub_stopped: false,
    };
    life.line("sse.stream_started", None);
    let state = State {
        life,
        sub,
        to_event,
        span,
    };
    let s = futures_util::stream::unfold(state, |mut st| async move {
        let span = st.span.clone();
        let next = st.sub.recv().instrument(span).await;
        match next {
            Some(m) => {
                st.life.sent += 1;
                let ev = (st.to_event)(&m);
                Some((Ok(ev), st))
            }
            None => {
                st.life.hub_stopped = true;
                drop(st);
                None
            }
        }
    });
    Sse::new(s).keep_alive(KeepAlive::default())
}

struct State<F> {
    // Dropped first: its lines come before the subscription's `fanout.unsubscribed`.
    life: Lifecycle,
    sub: Subscription,
    to_event: F,
    span: tracing::Span,
}

struct Lifecycle {
    ctx: Context,
    job: Option<String>,
    hub: String,
    subscriber_id: u64,
    started: Instant,
    sent: u64,
    hub_stopped: bool,
}

impl Lifecycle {
    fn line(&self, event: &'static str, reason: Option<&str>) {
        let duration_ms = (reason.is_some() && event == "sse.stream_ended")
            .then(|| self.started.elapsed().as_secs_f64() * 1000.0);
        self.ctx.clone().scope(|| {
            crate::completion::own(|| {
                tracing::info!(
                    name: crate::log::COMPLETION,
                    target: TARGET,
                    event,
                    hub = %self.hub,
                    subscriber_id = self.subscriber_id,
                    job_id = self.job.as_deref(),
                    reason,
                    events_sent = reason.map(|_| self.sent),
                    duration_ms,
                )
            })
        });
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        let reason = if self.hub_stopped {
            "hub_stopped"
        } else {
            self.line("sse.client_disconnected", Some("client_disconnected"));
            "client_disconnected"
        };
        self.line("sse.stream_ended", Some(reason));
    }
}
