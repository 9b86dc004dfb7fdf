//! Sources and the consume loop: connect, consume, and on failure retry with backoff.

use super::FanoutError;
use super::hub::{Hub, Inner, TARGET};
use super::message::Message;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument as _;

/// The error type sources return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a source says about itself on the hub's connect, retry and crash lines (never a
/// credential: no URI).
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    /// Kind of source (`amqp`, `memory`, ...).
    pub kind: &'static str,
    /// Exchange consumed from, if any.
    pub exchange: Option<String>,
    /// Queue consumed from, if any.
    pub queue: Option<String>,
    /// Binding key, if any.
    pub binding_key: Option<String>,
}

/// A broker consumer the hub can (re)connect.
pub trait Source: Send + 'static {
    /// A live consumer.
    type Consumer: Consumer;
    /// Exchange, queue, binding key: the fields of the hub's source lines.
    fn info(&self) -> SourceInfo;
    /// Connects and starts consuming (declaring what it needs). Called again after each failure.
    fn connect(&mut self) -> impl Future<Output = Result<Self::Consumer, BoxError>> + Send;
}

/// A connected consumer.
pub trait Consumer: Send + 'static {
    /// The next message; `Ok(None)` when the source has ended for good (the hub stops
    /// consuming), `Err` when the connection failed (the hub reconnects).
    fn next_message(&mut self) -> impl Future<Output = Result<Option<Message>, BoxError>> + Send;
}

/// One line of the source's life (`fanout.connected`, `.retry`, `.gave_up`, `.crashed`,
/// `.source_ended`): observa's own event with the source's identity (`hub`, `source`,
/// `exchange`, `queue`, `binding`) and the fields of the moment.
macro_rules! source_event {
    ($lvl:expr, $cfg:expr, $info:expr, $event:literal, $($rest:tt)*) => {
        crate::completion::own(|| tracing::event!(
            name: crate::log::COMPLETION,
            target: TARGET,
            $lvl,
            event = $event,
            hub = %$cfg.name,
            source = $info.kind,
            exchange = $info.exchange.as_deref(),
            queue = $info.queue.as_deref(),
            binding = $info.binding_key.as_deref(),
            $($rest)*
        ))
    };
}

/// `error` and every `source()` below it, joined with `": "`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut cur = error.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

impl Hub {
    /// Spawns the consume loop of `source` on the current tokio runtime: connect
    /// (`fanout.connected`), publish every message, and after a failure (`fanout.crashed` with
    /// the error chain) retry with exponential backoff (`fanout.retry` per attempt, with the
    /// backoff and the last error) until connected again, [`Hub::stop`], or
    /// [`HubConfig::with_max_retries`](super::HubConfig::with_max_retries) consecutive failures
    /// (`fanout.gave_up`). Outside a tokio runtime it returns an error (and counts
    /// `observa_internal_errors_total{kind="fanout"}`) instead of panicking.
    pub fn consume<S: Source>(&self, source: S) -> Result<(), FanoutError> {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            crate::metrics::internal_error("fanout");
            return Err(FanoutError::new(
                "`Hub::consume` needs a tokio runtime: call it from async code or inside `Runtime::enter`",
            ));
        };
        let inner = self.inner.clone();
        let task = rt.spawn(run(inner, source));
        self.set_task(task);
        Ok(())
    }
}

async fn run<S: Source>(hub: Arc<Inner>, mut source: S) {
    let info = source.info();
    let cfg = hub.cfg.clone();
    let mut stop = hub.stop_tx.subscribe();
    let mut failures: u32 = 0;
    let mut backoff = cfg.backoff_initial;
    let mut ever_connected = false;
    let mut last_error: Option<String> = None;
    loop {
        if hub.is_stopped() || *stop.borrow() {
            return;
        }
        if let Some(err) = &last_error {
            if cfg.max_retries.is_some_and(|max| failures > max) {
                source_event!(
                    tracing::Level::ERROR,
                    cfg,
                    info,
                    "fanout.gave_up",
                    attempt = failures,
                    error = %err,
                    "fan-out source: giving up after repeated failures"
                );
                hub.set_disconnected();
                return;
            }
            source_event!(
                tracing::Level::WARN,
                cfg,
                info,
                "fanout.retry",
                attempt = failures,
                backoff_ms = backoff.as_millis() as u64,
                error = %err,
                "fan-out source: retrying"
            );
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(cfg.backoff_max);
        }
        let span = tracing::info_span!(
            target: TARGET,
            "fanout.connect",
            hub = %cfg.name,
            source = info.kind,
            exchange = info.exchange.as_deref(),
            queue = info.queue.as_deref(),
            binding = info.binding_key.as_deref(),
            attempt = failures,
        );
        let connected = tokio::select! {
            r = source.connect().instrument(span) => r,
            _ = stop.changed() => return,
        };
        let mut consumer = match connected {
            Ok(c) => c,
            Err(e) => {
                let chain = error_chain(&*e);
                failures = failures.saturating_add(1);
                hub.set_failed(&chain, true);
                last_error = Some(chain);
                continue;
            }
        };
        hub.set_connected(ever_connected);
        source_event!(
            tracing::Level::INFO,
            cfg,
            info,
            "fanout.connected",
            attempt = failures,
            reconnect = ever_connected,
            "fan-out source connected"
        );
        ever_connected = true;
        backoff = cfg.backoff_initial;
        loop {
            let next = tokio::select! {
                r = consumer.next_message() => r,
                _ = stop.changed() => return,
            };
            match next {
                Ok(Some(msg)) => {
                    hub.publish(msg);
                }
                Ok(None) => {
                    hub.set_disconnected();
                    source_event!(
                        tracing::Level::INFO,
                        cfg,
                        info,
                        "fanout.source_ended",
                        "fan-out source ended"
                    );
                    return;
                }
                Err(e) => {
                    let chain = error_chain(&*e);
                    hub.set_failed(&chain, false);
                    source_event!(
                        tracing::Level::ERROR,
                        cfg,
                        info,
                        "fanout.crashed",
                        error = %chain,
                        "fan-out consumer crashed; reconnecting"
                    );
                    failures = 1;
                    last_error = Some(chain);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::{Filter, HubConfig};
    use std::sync::Mutex as StdMutex;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Span names opened while it is the default subscriber.
    struct Spans(Arc<StdMutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0
                .lock()
                .unwrap()
                .push(attrs.metadata().name().to_owned());
        }
    }

    #[derive(Debug)]
    struct Refused;
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refused")
        }
    }
    impl std::error::Error for Refused {}

    /// Fails its first connect, then yields two messages and ends.
    struct Flaky(u32);
    struct Two(u32);

    impl Source for Flaky {
        type Consumer = Two;
        fn info(&self) -> SourceInfo {
            SourceInfo {
                kind: "test",
                ..SourceInfo::default()
            }
        }
        async fn connect(&mut self) -> Result<Two, BoxError> {
            self.0 += 1;
            if self.0 == 1 {
                Err(Box::new(Refused))
            } else {
                Ok(Two(0))
            }
        }
    }

    impl Consumer for Two {
        async fn next_message(&mut self) -> Result<Option<Message>, BoxError> {
            self.0 += 1;
            Ok((self.0 <= 2).then(|| Message::new("k", vec![self.0 as u8])))
        }
    }

    #[tokio::test]
    async fn retries_then_delivers_inside_connect_and_message_spans() {
        let names = Arc::new(StdMutex::new(Vec::new()));
        let _default = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(Spans(names.clone())),
        );
        let hub = Hub::new(
            HubConfig::new("unit")
                .with_metric_prefix("unit_fanout")
                .with_backoff(
                    std::time::Duration::from_millis(1),
                    std::time::Duration::from_millis(1),
                ),
        )
        .unwrap();
        let mut sub = hub.subscribe(Filter::all());
        hub.consume(Flaky(0)).unwrap();
        assert_eq!(sub.recv().await.unwrap().payload(), [1]);
        assert_eq!(sub.recv().await.unwrap().payload(), [2]);
        let st = hub.stats();
        assert_eq!(st.retries, 1);
        assert_eq!(st.last_error.as_deref(), Some("refused"));
        hub.stop().await;
        assert!(
            sub.recv().await.is_none(),
            "a stopped hub closes its subscriptions"
        );
        let names = names.lock().unwrap().clone();
        assert_eq!(
            names.iter().filter(|n| *n == "fanout.connect").count(),
            2,
            "{names:?}"
        );
        assert_eq!(
            names.iter().filter(|n| *n == "fanout.message").count(),
            2,
            "{names:?}"
        );
    }

    #[test]
    fn consume_outside_a_runtime_is_an_error_not_a_panic() {
        let hub =
            Hub::new(HubConfig::new("unit-nort").with_metric_prefix("unit_fanout_nort")).unwrap();
        assert!(hub.consume(Flaky(0)).is_err());
    }

    #[test]
    fn chain_joins_sources() {
        #[derive(Debug)]
        struct Outer(Refused);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connect failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(error_chain(&Outer(Refused)), "connect failed: refused");
    }
}
