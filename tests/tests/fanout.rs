//! `observa::fanout` against the real RabbitMQ on 127.0.0.1:5672: messages published to the
//! broker reach SSE clients over real HTTP, a slow subscriber's drops are counted (exposition
//! parsed back) and warned once per burst, payloads never reach a line, and a connection closed
//! by the broker (`rabbitmqctl close_all_connections`) is retried, logged and recovered.

mod log_support;

use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions, ExchangeDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use observa::fanout::{AmqpSource, Filter, Hub, HubConfig, sse};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const WAIT: Duration = Duration::from_secs(30);

/// The broker tests share the broker's connection list (`close_all_connections` closes every
/// connection): one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("observa_{tag}_{}_{nanos}", std::process::id())
}

fn setup() {
    log_support::capture("fanout-test", "info");
}

/// Lines of `hub` (field `hub`) with `event`.
fn lines(hub: &str, event: &str) -> Vec<Value> {
    log_support::json_lines()
        .into_iter()
        .filter(|l| l["event"] == event && l["hub"] == hub)
        .collect()
}

/// Waits (async) until `lines(hub, event)` has at least `n` entries, and returns them.
async fn wait_for(hub: &str, event: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = lines(hub, event);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Publisher {
    _conn: Connection,
    ch: lapin::Channel,
    exchange: String,
}

impl Publisher {
    async fn new(exchange: &str) -> Publisher {
        let conn = Connection::connect(AMQP, ConnectionProperties::default())
            .await
            .expect("publisher connects to RabbitMQ on 127.0.0.1:5672");
        let ch = conn.create_channel().await.expect("channel");
        ch.exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange");
        Publisher {
            _conn: conn,
            ch,
            exchange: exchange.to_owned(),
        }
    }

    async fn publish(&self, key: &str, payload: &str) {
        self.ch
            .basic_publish(
                self.exchange.as_str().into(),
                key.into(),
                BasicPublishOptions::default(),
                payload.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }

    async fn delete(self) {
        let _ = self
            .ch
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }
}

/// A real axum server with the SSE endpoint `/events/{tenant}/{job}`.
async fn serve(hub: Hub) -> SocketAddr {
    use axum::extract::{Path, State};
    use axum::routing::get;
    async fn events(
        State(hub): State<Hub>,
        Path((tenant, job)): Path<(String, String)>,
    ) -> impl axum::response::IntoResponse {
        sse::stream(&hub, Filter::all().tenant(tenant).job(job))
    }
    let app = axum::Router::new()
        .route("/events/{tenant}/{job}", get(events))
        .with_state(hub);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(l, app).await.expect("serve");
    });
    addr
}

/// A real HTTP client reading the event stream.
struct SseClient {
    resp: reqwest::Response,
    buf: String,
}

impl SseClient {
    async fn connect(addr: SocketAddr, tenant: &str, job: &str) -> SseClient {
        let resp = reqwest::Client::new()
            .get(format!("http://{addr}/events/{tenant}/{job}"))
            .send()
            .await
            .expect("sse request");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseClient {
            resp,
            buf: String::new(),
        }
    }

    /// The `data` of the next event (keep-alive comments skipped); `None` when the stream ends.
    async fn next_data(&mut self) -> Option<String> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                    .collect();
                if !data.is_empty() {
                    return Some(data.join("\n"));
                }
            }
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("an event within the deadline")
                .expect("stream read");
            match chunk {
                Some(c) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                None => return None,
            }
        }
    }
}

fn metric(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    scrape.samples.iter().find_map(|s| {
        if s.metric != name || !labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)) {
            return None;
        }
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        }
    })
}

async fn connected(hub: &Hub) {
    wait_until("the hub's source to connect", || hub.stats().connected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_to_sse_with_counted_drops_and_one_warning_per_burst() {
    let _serial = SERIAL.lock().await;
    setup();
    let name = unique("hub");
    let prefix = unique("fo");
    let exchange = unique("ex");
    let canary = unique("CANARY_payload");
    let hub = Hub::new(
        HubConfig::new(&name)
            .with_metric_prefix(&prefix)
            .with_queue_max(4)
            .with_burst_window(Duration::from_secs(3600)),
    )
    .unwrap();
    let publisher = Publisher::new(&exchange).await;
    hub.consume(AmqpSource::new(AMQP, &exchange, "events.#"))
        .unwrap();
    connected(&hub).await;

    let addr = serve(hub.clone()).await;
    let mut a = SseClient::connect(addr, "t1", "j1").await;
    let mut b = SseClient::connect(addr, "t1", "j1").await;
    let mut other = SseClient::connect(addr, "t2", "j9").await;
    // The slow subscriber: same messages, never reads until told.
    let mut slow = hub.subscribe(Filter::all().tenant("t1"));
    assert_eq!(hub.subscribers(), 4);
    let key = "events.tenant.t1.job.j1";

    // Burst 1: 10 messages, paced by the SSE clients (they keep up), the slow one holds 4.
    for i in 0..10 {
        let payload = format!("{canary}-{i}");
        publisher.publish(key, &payload).await;
        assert_eq!(a.next_data().await.as_deref(), Some(payload.as_str()));
        assert_eq!(b.next_data().await.as_deref(), Some(payload.as_str()));
    }
    assert_eq!(slow.queued(), 4);
    // The writer is FIFO: once a marker line written now is there, any warning written before
    // it would be too. None while the burst is still going on.
    tracing::info!(event = "test.marker", hub = %name);
    assert_eq!(wait_for(&name, "test.marker", 1).await.len(), 1);
    assert!(
        lines(&name, "fanout.dropped").is_empty(),
        "the burst is still going on"
    );
    let got: Vec<String> = std::iter::from_fn(|| slow.try_recv())
        .map(|m| String::from_utf8(m.payload().to_vec()).unwrap())
        .collect();
    let want: Vec<String> = (6..10).map(|i| format!("{canary}-{i}")).collect();
    assert_eq!(got, want, "drop-oldest keeps the newest messages");

    let warns = wait_for(&name, "fanout.dropped", 1).await;
    assert_eq!(warns.len(), 1, "one warning for the burst: {warns:?}");
    let w = &warns[0];
    assert_eq!(w["level"], "warn");
    assert_eq!(w["routing"], key);
    assert_eq!(w["tenant_id"], "t1");
    assert_eq!(w["job_id"], "j1");
    assert_eq!(w["queue_size"], 4);
    assert_eq!(w["max_size"], 4);
    assert_eq!(w["drop_reason"], "queue_full");
    assert_eq!(w["dropped"], 6);
    assert_eq!(w["delivered"], 10);
    assert_eq!(w["subscriber_id"], slow.id());
    assert_eq!(w["subscribers_active"], 4);

    let dropped = |reason| {
        metric(
            &format!("{prefix}_messages_dropped_total"),
            &[("reason", reason)],
        )
    };
    assert_eq!(dropped("queue_full"), Some(6.0));
    assert_eq!(
        metric(&format!("{prefix}_messages_consumed_total"), &[]),
        Some(10.0)
    );
    // a, b and the slow one matched every message; the t2 client none.
    assert_eq!(
        metric(&format!("{prefix}_messages_forwarded_total"), &[]),
        Some(30.0)
    );
    assert_eq!(
        metric(&format!("{prefix}_subscribers_active"), &[]),
        Some(4.0)
    );

    // Burst 2: 6 more, 2 dropped, a second warning (and only one more).
    for i in 10..16 {
        let payload = format!("{canary}-{i}");
        publisher.publish(key, &payload).await;
        assert_eq!(a.next_data().await.as_deref(), Some(payload.as_str()));
        assert_eq!(b.next_data().await.as_deref(), Some(payload.as_str()));
    }
    while slow.try_recv().is_some() {}
    let warns = wait_for(&name, "fanout.dropped", 2).await;
    assert_eq!(warns.len(), 2, "{warns:?}");
    assert_eq!(warns[1]["dropped"], 2);
    assert_eq!(warns[1]["dropped_total"], 8);
    assert_eq!(warns[1]["delivered"], 16);
    assert_eq!(dropped("queue_full"), Some(8.0));

    // Tenant filter: the t2 client's first event is the t2 message.
    publisher.publish("events.tenant.t2.job.j9", "for-t2").await;
    assert_eq!(other.next_data().await.as_deref(), Some("for-t2"));
    // A message nobody subscribed to is counted as such.
    publisher.publish("events.tenant.t3.job.x", "nobody").await;
    wait_until("the unmatched message", || {
        dropped("no_subscribers") == Some(1.0)
    })
    .await;

    // Unsubscribe lines carry the active count.
    let slow_id = slow.id();
    drop(slow);
    let unsub = wait_for(&name, "fanout.unsubscribed", 1).await;
    assert_eq!(unsub[0]["subscriber_id"], slow_id);
    assert_eq!(unsub[0]["subscribers_active"], 3);
    assert_eq!(unsub[0]["tenant_id"], "t1");
    let subs = lines(&name, "fanout.subscribed");
    assert_eq!(subs.len(), 4);
    let mut counts: Vec<u64> = subs
        .iter()
        .map(|l| l["subscribers_active"].as_u64().unwrap())
        .collect();
    counts.sort();
    assert_eq!(counts, [1, 2, 3, 4]);

    // SSE lifecycle: started for each client; a client that goes away is noticed on the next
    // write and its stream ends.
    let started = lines(&name, "sse.stream_started");
    assert_eq!(started.len(), 3, "{started:?}");
    assert!(
        started
            .iter()
            .any(|l| l["tenant_id"] == "t2" && l["job_id"] == "j9")
    );
    drop(b);
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    while lines(&name, "sse.client_disconnected").is_empty() {
        assert!(Instant::now() < deadline, "disconnect never noticed");
        publisher.publish(key, &format!("{canary}-after-{n}")).await;
        n += 1;
        assert!(a.next_data().await.is_some());
    }
    let gone = wait_for(&name, "sse.stream_ended", 1).await;
    assert_eq!(gone[0]["reason"], "client_disconnected");
    assert_eq!(gone[0]["tenant_id"], "t1");
    assert_eq!(gone[0]["job_id"], "j1");
    assert!(gone[0]["events_sent"].as_u64().unwrap() >= 16);
    let dis = lines(&name, "sse.client_disconnected");
    assert_eq!(dis[0]["tenant_id"], "t1");
    assert_eq!(dis[0]["job_id"], "j1");

    // Stop: streams end (the client sees the end), totals logged.
    hub.stop().await;
    assert_eq!(a.next_data().await, None);
    assert_eq!(other.next_data().await, None);
    let ended = wait_for(&name, "sse.stream_ended", 3).await;
    assert_eq!(
        ended
            .iter()
            .filter(|l| l["reason"] == "hub_stopped")
            .count(),
        2,
        "{ended:?}"
    );
    let stopped = wait_for(&name, "fanout.stopped", 1).await;
    assert_eq!(stopped.len(), 1);
    assert!(stopped[0]["consumed"].as_u64().unwrap() >= 18);
    let started = lines(&name, "fanout.started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["queue_max"], 4);
    let conn = lines(&name, "fanout.connected");
    assert_eq!(conn[0]["exchange"], exchange.as_str());
    assert_eq!(conn[0]["binding"], "events.#");
    assert_eq!(conn[0]["source"], "amqp");

    // Never a payload, in any line of the process.
    let raw = log_support::raw();
    assert!(!raw.contains("CANARY"), "a payload reached the logs");
    assert!(!raw.contains("for-t2") && !raw.contains("nobody"));
    assert!(!raw.contains("guest:guest"), "the URI reached the logs");
    publisher.delete().await;
}

fn close_all_connections() {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["close_all_connections", "test"])
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_closing_the_connection_is_retried_logged_and_recovered() {
    let _serial = SERIAL.lock().await;
    setup();
    let name = unique("hub");
    let exchange = unique("ex");
    let hub = Hub::new(
        HubConfig::new(&name)
            .with_metric_prefix(unique("fo"))
            .with_backoff(Duration::from_millis(50), Duration::from_millis(400)),
    )
    .unwrap();
    let publisher = Publisher::new(&exchange).await;
    hub.consume(AmqpSource::new(AMQP, &exchange, "jobs.#"))
        .unwrap();
    connected(&hub).await;
    let addr = serve(hub.clone()).await;
    let mut client = SseClient::connect(addr, "t1", "j1").await;
    publisher.publish("jobs.tenant.t1.job.j1", "before").await;
    assert_eq!(client.next_data().await.as_deref(), Some("before"));
    assert_eq!(hub.last_error(), None);

    close_all_connections();

    let crashed = wait_for(&name, "fanout.crashed", 1).await;
    assert_eq!(crashed.len(), 1, "the crash is logged once");
    assert_eq!(crashed[0]["level"], "error");
    assert_eq!(crashed[0]["exchange"], exchange.as_str());
    let chain = crashed[0]["error"].as_str().unwrap().to_owned();
    assert!(!chain.is_empty());
    let retry = wait_for(&name, "fanout.retry", 1).await;
    assert_eq!(retry[0]["level"], "warn");
    assert_eq!(retry[0]["attempt"], 1);
    assert_eq!(retry[0]["backoff_ms"], 50);
    assert_eq!(retry[0]["error"], chain.as_str());
    let reconnected = wait_for(&name, "fanout.connected", 2).await;
    assert_eq!(reconnected.len(), 2, "{reconnected:?}");
    assert_eq!(reconnected[1]["reconnect"], true);
    connected(&hub).await;
    let stats = hub.stats();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert_eq!(hub.last_error().as_deref(), Some(chain.as_str()));

    // The flow recovers: a message published after recovery reaches the same SSE client.
    let publisher = Publisher::new(&exchange).await;
    publisher.publish("jobs.tenant.t1.job.j1", "after").await;
    assert_eq!(client.next_data().await.as_deref(), Some("after"));
    hub.stop().await;
    publisher.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failed_connect_is_a_retry_line_with_backoff_and_error_then_gives_up() {
    setup();
    let name = unique("hub");
    let hub = Hub::new(
        HubConfig::new(&name)
            .with_metric_prefix(unique("fo"))
            .with_backoff(Duration::from_millis(10), Duration::from_millis(25))
            .with_max_retries(3),
    )
    .unwrap();
    // Nothing listens on port 1: connection refused, for real.
    hub.consume(AmqpSource::new(
        "amqp://guest:guest@127.0.0.1:1/%2f",
        "nowhere",
        "#",
    ))
    .unwrap();
    let gave_up = wait_for(&name, "fanout.gave_up", 1).await;
    assert_eq!(gave_up.len(), 1);
    assert_eq!(gave_up[0]["level"], "error");
    let retries = lines(&name, "fanout.retry");
    let attempts: Vec<u64> = retries
        .iter()
        .map(|l| l["attempt"].as_u64().unwrap())
        .collect();
    let backoffs: Vec<u64> = retries
        .iter()
        .map(|l| l["backoff_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(backoffs, [10, 20, 25], "doubling, capped");
    assert!(
        retries
            .iter()
            .all(|l| !l["error"].as_str().unwrap().is_empty())
    );
    let last = hub.last_error().expect("last_error set");
    assert_eq!(gave_up[0]["error"], last.as_str());
    assert!(!hub.stats().connected);
    assert_eq!(hub.stats().retries, 4);
    assert!(lines(&name, "fanout.connected").is_empty());
    hub.stop().await;
    assert!(!log_support::raw().contains("guest:guest"));
}
