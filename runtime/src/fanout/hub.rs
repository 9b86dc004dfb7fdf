//! The hub: subscribers, their bounded queues, drop-oldest backpressure, metrics and lines.

use super::message::{Filter, Message};
use super::{FanoutError, HubConfig, Stats};
use crate::context;
use crate::metrics::{CounterFamily, GaugeFamily};
use prometheus::{IntCounter, IntGauge};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{Notify, watch};

/// `drop_reason` / `reason` label of a message evicted from a full subscriber queue.
pub const REASON_QUEUE_FULL: &str = "queue_full";
/// `reason` label of a consumed message that matched no subscriber.
pub const REASON_NO_SUBSCRIBERS: &str = "no_subscribers";

pub(crate) const TARGET: &str = "observa::fanout";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` (which writes a line) with `tenant` bound as the line's `tenant_id`, so the key
/// appears once, in its canonical place.
pub(crate) fn with_tenant<R>(tenant: Option<&str>, f: impl FnOnce() -> R) -> R {
    match tenant {
        Some(t) => context::current().with_tenant_id(t).scope(f),
        None => f(),
    }
}

struct Metrics {
    active: IntGauge,
    consumed: IntCounter,
    forwarded: IntCounter,
    dropped_full: IntCounter,
    dropped_none: IntCounter,
}

impl Metrics {
    fn new(prefix: &str) -> Result<Metrics, FanoutError> {
        let name = |base: &str| {
            if prefix.is_empty() {
                base.to_owned()
            } else {
                format!("{prefix}_{base}")
            }
        };
        let active = GaugeFamily::new(
            &name("subscribers_active"),
            "Subscribers currently attached to the fan-out hub",
            &[],
        )?
        .get(&[]);
        let consumed = CounterFamily::new(
            &name("messages_consumed_total"),
            "Messages taken from the source by the fan-out hub",
            &[],
        )?
        .get(&[]);
        let forwarded = CounterFamily::new(
            &name("messages_forwarded_total"),
            "Messages put in a subscriber queue (one per subscriber)",
            &[],
        )?
        .get(&[]);
        let dropped = CounterFamily::new(
            &name("messages_dropped_total"),
            "Messages dropped by the fan-out hub, by reason",
            &["reason"],
        )?;
        Ok(Metrics {
            active,
            consumed,
            forwarded,
            dropped_full: dropped.get(&[REASON_QUEUE_FULL]),
            dropped_none: dropped.get(&[REASON_NO_SUBSCRIBERS]),
        })
    }
}

#[derive(Default)]
struct Health {
    connected: bool,
    last_error: Option<String>,
    retries: u64,
    reconnects: u64,
}

pub(crate) struct Inner {
    pub(crate) cfg: HubConfig,
    metrics: Metrics,
    subs: Mutex<Vec<Arc<SubState>>>,
    next_id: AtomicU64,
    consumed: AtomicU64,
    forwarded: AtomicU64,
    dropped_full: AtomicU64,
    dropped_none: AtomicU64,
    health: Mutex<Health>,
    stopped: AtomicBool,
    pub(crate) stop_tx: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A fan-out hub: takes messages from a source (or [`Hub::publish`]) and delivers each to every
/// matching subscriber's bounded queue, evicting the oldest message of a full queue. Cheap to
/// clone (shared state).
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("name", &self.inner.cfg.name)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Burst {
    started: Instant,
    dropped: u64,
    queue_size: usize,
    routing_key: String,
    tenant_id: Option<String>,
    job_id: Option<String>,
}

#[derive(Default)]
struct SubQueue {
    items: VecDeque<Arc<Message>>,
    closed: bool,
    delivered: u64,
    dropped: u64,
    burst: Option<Burst>,
}

struct SubState {
    id: u64,
    filter: Filter,
    q: Mutex<SubQueue>,
    notify: Notify,
}

/// What a burst report needs, taken out of the queue lock.
struct Report {
    burst: Burst,
    delivered: u64,
    dropped_total: u64,
}

impl Hub {
    /// Creates a hub (registering its metrics) and writes `fanout.started`. Fails only when a
    /// metric family of the same name exists with another type or labels.
    pub fn new(cfg: HubConfig) -> Result<Hub, FanoutError> {
        let metrics = Metrics::new(&cfg.metric_prefix)?;
        let (stop_tx, _) = watch::channel(false);
        crate::completion::own(|| {
            tracing::info!(
                name: crate::log::COMPLETION,
                target: TARGET,
                event = "fanout.started",
                hub = %cfg.name,
                queue_max = cfg.queue_max as u64,
                metric_prefix = %cfg.metric_prefix,
                "fan-out hub started"
            )
        });
        Ok(Hub {
            inner: Arc::new(Inner {
                cfg,
                metrics,
                subs: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                consumed: AtomicU64::new(0),
                forwarded: AtomicU64::new(0),
                dropped_full: AtomicU64::new(0),
                dropped_none: AtomicU64::new(0),
                health: Mutex::new(Health::default()),
                stopped: AtomicBool::new(false),
                stop_tx,
                task: Mutex::new(None),
            }),
        })
    }

    /// The hub's name (the `hub` field of its lines).
    pub fn name(&self) -> &str {
        &self.inner.cfg.name
    }

    /// Attaches a subscriber with `filter`. Writes `fanout.subscribed` with the active count.
    /// Dropping the [`Subscription`] unsubscribes.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        let inner = &self.inner;
        let state = Arc::new(SubState {
            id: inner.next_id.fetch_add(1, Ordering::Relaxed),
            filter,
            q: Mutex::new(SubQueue {
                closed: inner.stopped.load(Ordering::Acquire),
                ..SubQueue::default()
            }),
            notify: Notify::new(),
        });
        let active = {
            let mut subs = lock(&inner.subs);
            subs.push(state.clone());
            subs.len()
        };
        inner.metrics.active.inc();
        with_tenant(state.filter.tenant_id(), || {
            crate::completion::own(|| {
                tracing::info!(
                    name: crate::log::COMPLETION,
                    target: TARGET,
                    event = "fanout.subscribed",
                    hub = %inner.cfg.name,
                    subscriber_id = state.id,
                    job_id = state.filter.job_id(),
                    subscribers_active = active as u64,
                    queue_max = inner.cfg.queue_max as u64,
                    "subscriber attached"
                )
            })
        });
        Subscription {
            hub: self.inner.clone(),
            state,
        }
    }

    /// Delivers `msg` to every matching subscriber (what a source does for each message it
    /// consumes; call it directly for an in-process source). Returns the number of subscribers
    /// it was queued for. A full queue loses its oldest message. After [`Hub::stop`] nothing is
    /// delivered.
    pub fn publish(&self, msg: Message) -> usize {
        self.inner.publish(msg)
    }

    /// Active subscribers.
    pub fn subscribers(&self) -> usize {
        lock(&self.inner.subs).len()
    }

    /// The last source error (connect failure or crash), for health endpoints.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.inner.health).last_error.clone()
    }

    /// Counters and connection state, for health endpoints.
    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        let h = lock(&i.health);
        Stats {
            subscribers_active: lock(&i.subs).len() as u64,
            consumed: i.consumed.load(Ordering::Relaxed),
            forwarded: i.forwarded.load(Ordering::Relaxed),
            dropped_queue_full: i.dropped_full.load(Ordering::Relaxed),
            dropped_no_subscribers: i.dropped_none.load(Ordering::Relaxed),
            connected: h.connected,
            retries: h.retries,
            reconnects: h.reconnects,
            last_error: h.last_error.clone(),
        }
    }

    /// Stops the hub: stops the source task, closes every subscription (each still yields what
    /// is queued, then `None`), reports pending drop bursts and writes `fanout.stopped` with the
    /// totals. Idempotent.
    pub async fn stop(&self) {
        let i = &self.inner;
        if i.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = i.stop_tx.send(true);
        let task = lock(&i.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let subs: Vec<Arc<SubState>> = lock(&i.subs).clone();
        for s in &subs {
            let report = {
                let mut q = lock(&s.q);
                q.closed = true;
                take_report(&mut q)
            };
            s.notify.notify_one();
            if let Some(r) = report {
                i.report(s, r);
            }
        }
        let st = self.stats();
        crate::completion::own(|| {
            tracing::info!(
                name: crate::log::COMPLETION,
                target: TARGET,
                event = "fanout.stopped",
                hub = %i.cfg.name,
                subscribers_active = st.subscribers_active,
                consumed = st.consumed,
                forwarded = st.forwarded,
                dropped = st.dropped_queue_full + st.dropped_no_subscribers,
                "fan-out hub stopped"
            )
        });
    }

    pub(crate) fn set_task(&self, task: tokio::task::JoinHandle<()>) {
        *lock(&self.inner.task) = Some(task);
    }
}

fn take_report(q: &mut SubQueue) -> Option<Report> {
    q.burst.take().map(|burst| Report {
        burst,
        delivered: q.delivered,
        dropped_total: q.dropped,
    })
}

impl Inner {
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn set_connected(&self, reconnect: bool) {
        let mut h = lock(&self.health);
        h.connected = true;
        if reconnect {
            h.reconnects += 1;
        }
    }

    pub(crate) fn set_failed(&self, error: &str, retry: bool) {
        let mut h = lock(&self.health);
        h.connected = false;
        h.last_error = Some(error.to_owned());
        if retry {
            h.retries += 1;
        }
    }

    pub(crate) fn set_disconnected(&self) {
        lock(&self.health).connected = false;
    }

    pub(crate) fn publish(&self, msg: Message) -> usize {
        if self.is_stopped() {
            return 0;
        }
        let span = tracing::info_span!(
            target: TARGET,
            "fanout.message",
            hub = %self.cfg.name,
            routing = %msg.routing_key(),
        );
        let _enter = span.enter();
        self.consumed.fetch_add(1, Ordering::Relaxed);
        self.metrics.consumed.inc();
        let msg = Arc::new(msg);
        let max = self.cfg.queue_max;
        let mut delivered = 0usize;
        let mut reports = Vec::new();
        let subs: Vec<Arc<SubState>> = lock(&self.subs).clone();
        for s in subs.iter().filter(|s| s.filter.matches(&msg)) {
            let mut q = lock(&s.q);
            if q.closed {
                continue;
            }
            if q.items.len() >= max {
                let queue_size = q.items.len();
                q.items.pop_front();
                q.dropped += 1;
                self.dropped_full.fetch_add(1, Ordering::Relaxed);
                self.metrics.dropped_full.inc();
                // A burst that outlasts the window is reported now and a new one begins, so
                // a subscriber that never catches up still shows up once per window.
                if q.burst
                    .as_ref()
                    .is_some_and(|b| b.started.elapsed() >= self.cfg.burst_window)
                    && let Some(r) = take_report(&mut q)
                {
                    reports.push((s.clone(), r));
                }
                let b = q.burst.get_or_insert_with(|| Burst {
                    started: Instant::now(),
                    dropped: 0,
                    queue_size,
                    routing_key: String::new(),
                    tenant_id: None,
                    job_id: None,
                });
                b.dropped += 1;
                b.queue_size = queue_size;
                msg.routing_key().clone_into(&mut b.routing_key);
                b.tenant_id = msg.tenant_id().map(str::to_owned);
                b.job_id = msg.job_id().map(str::to_owned);
            }
            q.items.push_back(msg.clone());
            q.delivered += 1;
            drop(q);
            self.forwarded.fetch_add(1, Ordering::Relaxed);
            self.metrics.forwarded.inc();
            s.notify.notify_one();
            delivered += 1;
        }
        if delivered == 0 {
            self.dropped_none.fetch_add(1, Ordering::Relaxed);
            self.metrics.dropped_none.inc();
        }
        for (s, r) in reports {
            self.report(&s, r);
        }
        delivered
    }

    /// The one WARN of a drop burst: never the payload.
    fn report(&self, s: &SubState, r: Report) {
        let active = lock(&self.subs).len() as u64;
        let b = &r.burst;
        with_tenant(b.tenant_id.as_deref(), || {
            crate::completion::own(|| {
                tracing::warn!(
                    name: crate::log::COMPLETION,
                    target: TARGET,
                    event = "fanout.dropped",
                    hub = %self.cfg.name,
                    subscriber_id = s.id,
                    routing = %b.routing_key,
                    job_id = b.job_id.as_deref(),
                    queue_size = b.queue_size as u64,
                    max_size = self.cfg.queue_max as u64,
                    drop_reason = REASON_QUEUE_FULL,
                    dropped = b.dropped,
                    delivered = r.delivered,
                    dropped_total = r.dropped_total,
                    subscribers_active = active,
                    "subscriber queue full: oldest messages dropped"
                )
            })
        });
    }
}

/// One subscriber's end: [`Subscription::recv`] yields its messages in order. Dropping it
/// unsubscribes (`fanout.unsubscribed`) and reports a pending drop burst.
#[must_use = "dropping a subscription unsubscribes"]
pub struct Subscription {
    hub: Arc<Inner>,
    state: Arc<SubState>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("hub", &self.hub.cfg.name)
            .field("id", &self.state.id)
            .field("filter", &self.state.filter)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The subscriber id (the `subscriber_id` field of the hub's lines).
    pub fn id(&self) -> u64 {
        self.state.id
    }

    /// The filter given at subscription.
    pub fn filter(&self) -> &Filter {
        &self.state.filter
    }

    /// The hub's name.
    pub fn hub_name(&self) -> &str {
        &self.hub.cfg.name
    }

    /// The next message, waiting for one; `None` once the hub has stopped and the queue is empty.
    /// Taking the last queued message after drops ends the drop burst and writes its warning.
    pub async fn recv(&mut self) -> Option<Arc<Message>> {
        loop {
            let notified = self.state.notify.notified();
            match self.poll_queue() {
                Ok(m) => return Some(m),
                Err(true) => return None,
                Err(false) => notified.await,
            }
        }
    }

    /// The next queued message without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Message>> {
        self.poll_queue().ok()
    }

    /// Messages waiting in this subscriber's queue.
    pub fn queued(&self) -> usize {
        lock(&self.state.q).items.len()
    }

    /// `Err(closed)` when nothing is queued.
    fn poll_queue(&self) -> Result<Arc<Message>, bool> {
        let (m, report) = {
            let mut q = lock(&self.state.q);
            let Some(m) = q.items.pop_front() else {
                return Err(q.closed);
            };
            let report = if q.items.is_empty() {
                take_report(&mut q)
            } else {
                None
            };
            (m, report)
        };
        if let Some(r) = report {
            self.hub.report(&self.state, r);
        }
        Ok(m)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let hub = &self.hub;
        let active = {
            let mut subs = lock(&hub.subs);
            subs.retain(|s| !Arc::ptr_eq(s, &self.state));
            subs.len()
        };
        hub.metrics.active.dec();
        let (report, delivered, dropped) = {
            let mut q = lock(&self.state.q);
            q.closed = true;
            (take_report(&mut q), q.delivered, q.dropped)
        };
        if let Some(r) = report {
            hub.report(&self.state, r);
        }
        with_tenant(self.state.filter.tenant_id(), || {
            crate::completion::own(|| {
                tracing::info!(
                    name: crate::log::COMPLETION,
                    target: TARGET,
                    event = "fanout.unsubscribed",
                    hub = %hub.cfg.name,
                    subscriber_id = self.state.id,
                    job_id = self.state.filter.job_id(),
                    subscribers_active = active as u64,
                    delivered,
                    dropped,
                    "subscriber detached"
                )
            })
        });
    }
}
