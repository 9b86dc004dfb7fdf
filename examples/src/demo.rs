//! observa end to end on embedded defaults: an instrumented mini service and worker, driven
//! through every outcome, then what each part produced:
//!
//! - the JSON lines written by `#[observed]` calls (and by security signals, fan-out, audit);
//! - `#[derive(Redact)]`: a login form with a `Secret<String>` API key, as its `Debug` and as the
//!   line its `#[observed]` call wrote, both masked;
//! - `#[audit]`: the trail written to a SQLite file (a temporary one, or `OBSERVA_AUDIT_URL` when
//!   set, which is then kept), verified with `observa::audit::verify_with` as `observa-audit
//!   verify --witness` would, with the demo's own `audit.checkpoint` lines as the witness; a
//!   trail that does not verify fails the run;
//! - the metrics as series per family (`demo --full-metrics` prints the whole Prometheus
//!   exposition after it);
//! - the Sentry events it sent.
//!
//! observa runs as a layer in the demo's own `tracing_subscriber` registry, beside a plain
//! `fmt` layer that prints warnings and errors to stderr (any other layer fits the same way).
//! Sentry is on against a stand-in ingest endpoint on 127.0.0.1 started by the demo itself
//! (or the DSN in `OBSERVA_SENTRY_DSN` / `SENTRY_DSN` when set).

use observa::{Redact, Secret, audit, observed};
use std::fmt;

#[derive(Debug)]
enum ApiError {
    NotFound(u64),
    Database(std::io::Error),
    Denied,
    Audit(observa::audit::AuditError),
}

// `#[audit]` under the default `fail_closed` policy returns the store's error through this.
impl From<observa::audit::AuditError> for ApiError {
    fn from(e: observa::audit::AuditError) -> Self {
        ApiError::Audit(e)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::NotFound(id) => write!(f, "order {id} not found"),
            ApiError::Database(_) => f.write_str("database unavailable"),
            ApiError::Denied => f.write_str("permission denied"),
            ApiError::Audit(e) => write!(f, "audit trail unavailable: {e}"),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Database(e) => Some(e),
            ApiError::Audit(e) => Some(e),
            ApiError::NotFound(_) | ApiError::Denied => None,
        }
    }
}

impl observa::Classify for ApiError {
    fn error_class(&self) -> observa::ErrorClass {
        match self {
            ApiError::NotFound(_) | ApiError::Denied => observa::ErrorClass::Client,
            ApiError::Database(_) | ApiError::Audit(_) => observa::ErrorClass::Server,
        }
    }
}

#[observed(event = "orders.get", tenant, fields(order_id))]
async fn get_order(tenant: &str, order_id: u64) -> Result<String, ApiError> {
    tracing::info!(cache = "miss", "loading order");
    match order_id {
        0 => Err(ApiError::NotFound(order_id)),
        13 => Err(ApiError::Database(std::io::Error::other(
            "connection reset",
        ))),
        _ => Ok(format!("order-{order_id}")),
    }
}

#[observed(event = "sync_job", metric = "worker_jobs", tenant, fields(job_id, rows = batch.len(), password))]
fn sync_orders(tenant: String, job_id: u64, batch: Vec<u32>, password: String) -> u64 {
    let _ = password;
    batch.iter().map(|&v| v as u64).sum()
}

#[observed(event = "reports.render")]
fn render_report(pages: u32) -> u32 {
    if pages == 0 {
        panic!("empty report");
    }
    pages
}

#[observed(event = "export.upload", tenant)]
async fn slow_upload(tenant: &str) -> Result<(), ApiError> {
    let _ = tenant;
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    Ok(())
}

/// A login form: `#[derive(Redact)]` gives it a masked `Debug` and lets `#[observed]` record it
/// (as a nested JSON object, masked the same way). `password` is masked by its name alone; the
/// API key is a `Secret`, which has no `Display`, no `Deref` and no `Serialize` at all.
#[derive(Redact)]
struct LoginForm {
    #[redact(email)]
    email: String,
    password: String,
    api_key: Secret<String>,
    remember_me: bool,
}

#[observed(event = "auth.login", tenant, fields(form))]
fn login(tenant: &str, form: &LoginForm) -> Result<String, ApiError> {
    if form.api_key.expose().starts_with("sk_live_") {
        Ok(format!("session for {tenant}"))
    } else {
        Err(ApiError::Denied)
    }
}

struct Admin {
    id: String,
}

/// Audited: a durable `attempted` record before the body, the outcome after it, hash-chained.
#[observed(event = "users.suspend", tenant)]
#[audit(action = "user.suspend", actor = admin.id, target = user_id, severity = "high",
        reason = "terms of service")]
async fn suspend_user(tenant: &str, admin: &Admin, user_id: u64) -> Result<(), ApiError> {
    if user_id == 1 {
        // The account owner cannot be suspended: recorded as a `failure`.
        return Err(ApiError::Denied);
    }
    Ok(())
}

/// Where the demo writes its audit trail: `OBSERVA_AUDIT_URL` when set (kept afterwards), else
/// a SQLite file in a fresh temporary directory (removed at the end).
struct Trail {
    url: String,
    temp_dir: Option<std::path::PathBuf>,
}

impl Trail {
    fn open() -> Result<Trail, Box<dyn std::error::Error>> {
        let trail = match std::env::var("OBSERVA_AUDIT_URL") {
            Ok(url) if !url.is_empty() => Trail {
                url,
                temp_dir: None,
            },
            _ => {
                let dir = std::env::temp_dir().join(format!(
                    "observa-demo-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                ));
                std::fs::create_dir_all(&dir)?;
                Trail {
                    url: format!("sqlite:{}", dir.join("audit.db").display()),
                    temp_dir: Some(dir),
                }
            }
        };
        // The rest of the audit settings (signing key, checkpoint interval, ...) from the
        // environment, as `observa::init` would.
        let mut config = observa::audit::AuditConfig::from_env()?;
        config.url = trail.url.clone();
        observa::audit::install(config)?;
        Ok(trail)
    }
}

impl Drop for Trail {
    fn drop(&mut self) {
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Series per metric family of a Prometheus text exposition, in exposition order: one per
/// sample line of a counter or gauge, one per `_count` line of a histogram or summary.
fn series_per_family(exposition: &str) -> Vec<(String, String, usize)> {
    let mut families: Vec<(String, String, usize)> = Vec::new();
    for line in exposition.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let mut parts = decl.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                families.push((name.to_owned(), kind.to_owned(), 0));
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let Some((family, kind, n)) = families.last_mut() else {
            continue;
        };
        let counted = match kind.as_str() {
            "histogram" | "summary" => name.strip_suffix("_count") == Some(family.as_str()),
            _ => name == family.as_str(),
        };
        if counted {
            *n += 1;
        }
    }
    families
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut full_metrics = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "schema" => {
                // The JSON Schema of the lines below, from the same inventory (`observa::ops`).
                println!("{:#}", observa::ops::Ops::new("demo").schema());
                return Ok(());
            }
            "--full-metrics" => full_metrics = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `schema` or `--full-metrics`"
                )
                .into());
            }
        }
    }
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    // The demo catches one panic on purpose: keep stderr quiet for it (observa's hook, installed
    // below, chains to this one and still records the message).
    std::panic::set_hook(Box::new(|_| {}));
    let ingest = sentry_ingest::start().await?;
    let logs = observa::MemoryWriter::new();
    let mut config = observa::Config::from_env()?
        .with_writer(logs.clone())
        .with_log_level("info");
    if config.sentry_dsn.is_none() {
        config = config.with_sentry_dsn(format!("http://demo-key@{}/1", ingest.addr));
    }
    let (observa_layer, guard) = observa::layer(config)?;
    let subscriber = tracing_subscriber::registry().with(observa_layer).with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    let trail = Trail::open()?;

    let _ = get_order("acme", 7).await;
    let _ = get_order("acme", 0).await;
    let _ = get_order("globex", 13).await;
    sync_orders("acme".into(), 42, vec![1, 2, 3], "hunter2".into());
    // A panic is recorded (message on the ERROR line, and a Sentry event), then resumed
    // unchanged (caught here so the demo goes on).
    let caught = std::panic::catch_unwind(|| render_report(0));
    assert!(caught.is_err());
    // A future dropped before completion is recorded as `cancelled`.
    let timed_out =
        tokio::time::timeout(std::time::Duration::from_millis(10), slow_upload("initech")).await;
    assert!(timed_out.is_err());
    // Jobs: a request enqueues work; the worker continues its correlation id.
    jobs::run().await;
    observa::sentry::flush(std::time::Duration::from_secs(5));
    // Security signals: a cross-tenant attempt and a burst of bad tokens from one address.
    security::run();
    // Fan-out: an in-memory source, a subscriber too slow for its queue of 2, one drop.
    fanout_demo::run().await;
    // Redaction: the form's secrets never reach a line, whatever prints it.
    let form = LoginForm {
        email: "jane.doe@example.com".into(),
        password: "correct horse battery".into(),
        api_key: Secret::new("sk_live_51HxDemoKey".into()),
        remember_me: true,
    };
    let _ = login("acme", &form);
    // Audit: one suspension that succeeds, one refused (`attempted`, then `failure`).
    let admin = Admin {
        id: "admin-7".into(),
    };
    let _ = suspend_user("acme", &admin, 42).await;
    let _ = suspend_user("acme", &admin, 1).await;
    // Flushes the lines and closes the audit trail (`audit.stopped` + a closing checkpoint).
    drop(guard);
    let lines = logs.contents();
    println!("== log lines ==");
    print!("{lines}");

    println!("== redaction ==");
    println!("Debug: {form:?}");
    match lines.lines().find(|l| l.contains("auth.login.completed")) {
        Some(line) => println!("line:  {line}"),
        None => println!("line:  (no auth.login.completed line: is OBSERVA_LOG_LEVEL above info?)"),
    }

    println!("== audit trail ==");
    println!("trail: {}", trail.url);
    // The same check as `observa-audit verify <url> --witness <log file>` (exit 0 intact,
    // 1 tampered, 2 unreadable): the hash chain, the checkpoints, and the `audit.checkpoint`
    // lines above as the witness that left the host with the logs.
    let witness = lines
        .lines()
        .filter_map(observa::audit::WitnessCheckpoint::parse_line);
    let options = observa::audit::VerifyOptions::default().witness(witness);
    let verified = observa::audit::verify_with(&trail.url, &options);
    match &verified {
        Ok(report) => println!("verify: {report}"),
        Err(e) => println!("verify: FAILED: {e}"),
    }
    if trail.temp_dir.is_none() {
        println!(
            "kept; check it again with: cargo run -p observa --bin observa-audit -- verify {}",
            trail.url
        );
    }
    drop(trail);

    let exposition = observa::metrics::render();
    let families = series_per_family(&exposition);
    println!("== metrics ==");
    for (name, kind, n) in &families {
        println!("{name}: {n} series ({kind})");
    }
    println!(
        "{} families, {} series; the full Prometheus exposition: cargo run -p examples --bin demo -- --full-metrics",
        families.len(),
        families.iter().map(|f| f.2).sum::<usize>()
    );
    if full_metrics {
        println!("== metrics exposition ==");
        print!("{exposition}");
    }
    println!("== sentry events (as received by the local endpoint) ==");
    for e in ingest.events() {
        println!("{e}");
    }
    // Like `observa-audit verify`, a trail that does not verify fails the run.
    verified.map_err(|e| e.to_string())?;
    Ok(())
}

/// A stand-in for Sentry's ingest endpoint: stores each envelope's event payloads.
mod sentry_ingest {
    use axum::routing::post;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    pub(crate) struct Ingest {
        pub(crate) addr: SocketAddr,
        received: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    pub(crate) async fn start() -> std::io::Result<Ingest> {
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let store = received.clone();
        let app = axum::Router::new().route(
            "/api/{project}/envelope/",
            post(move |body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    store
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(body.to_vec());
                    "{}"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        Ok(Ingest { addr, received })
    }

    impl Ingest {
        /// One summary line per event: level, tags, exception values.
        pub(crate) fn events(&self) -> Vec<String> {
            let mut out = Vec::new();
            for body in self
                .received
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                // An envelope: a header line, then an item header line and its payload line.
                let mut lines = body.split(|&b| b == b'\n').skip(1);
                while let (Some(h), Some(p)) = (lines.next(), lines.next()) {
                    let Ok(h) = serde_json::from_slice::<serde_json::Value>(h) else {
                        break;
                    };
                    if h["type"] != "event" {
                        continue;
                    }
                    let Ok(e) = serde_json::from_slice::<serde_json::Value>(p) else {
                        continue;
                    };
                    out.push(
                        serde_json::json!({
                            "tags": e["tags"],
                            "exception": e["exception"]["values"],
                            "breadcrumbs": e["breadcrumbs"]["values"].as_array().map_or(0, |b| b.len()),
                        })
                        .to_string(),
                    );
                }
            }
            out
        }
    }
}

/// Request -> queued job -> worker, with one correlation id: the request's context travels in
/// the job payload (`observa::carrier::JobContext`, serde) over a queue (a channel of JSON text).
mod jobs {
    use observa::carrier::JobContext;
    use observa::observed;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct SendReceipt {
        ctx: JobContext,
        order_id: u64,
    }

    #[observed(event = "checkout", tenant, fields(order_id))]
    async fn checkout(tenant: &str, order_id: u64, queue: &tokio::sync::mpsc::Sender<String>) {
        let job = SendReceipt {
            ctx: JobContext::current(),
            order_id,
        };
        if let Ok(payload) = serde_json::to_string(&job) {
            let _ = queue.send(payload).await;
        }
    }

    #[observed(event = "receipt.send", fields(order_id))]
    async fn send_receipt(order_id: u64) -> Result<(), std::io::Error> {
        tracing::info!(event = "receipt.rendered", order_id);
        Ok(())
    }

    pub(crate) async fn run() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
        let worker = tokio::spawn(async move {
            while let Some(payload) = rx.recv().await {
                let Ok(job) = serde_json::from_str::<SendReceipt>(&payload) else {
                    continue;
                };
                let _ = job.ctx.scope(send_receipt(job.order_id)).await;
            }
        });
        observa::Context::new()
            .with_correlation_id("req-7f3a")
            .wrap(checkout("acme", 42, &tx))
            .await;
        drop(tx);
        let _ = worker.await;
    }
}

/// Security signals: a cross-tenant attempt (WARN `security.violation`), then ten invalid tokens
/// from one address (DEBUG lines, counted) that escalate once to WARN `abuse_signal_host`
/// (default: 10 per host in 1 h). The token id appears only as its keyed fingerprint.
mod security {
    use observa::security::{self, Code};

    pub(crate) fn run() {
        observa::Context::new()
            .with_correlation_id("req-9c1e")
            .with_tenant_id("acme")
            .with_user_id("u-42")
            .scope(|| {
                security::violation(Code::CrossTenantAccess)
                    .requested_tenant("globex")
                    .route("/events/{tenant}")
                    .status(403)
                    .emit();
            });
        // Unauthenticated requests: no user, so only the host window counts them.
        for i in 0..10 {
            observa::Context::new()
                .with_correlation_id(format!("req-a0{i:02}"))
                .scope(|| {
                    security::violation(Code::AuthInvalidToken)
                        .client_ip("203.0.113.7")
                        .token_id("jti-0042")
                        .status(401)
                        .emit();
                });
        }
    }
}

/// Fan-out with no broker: messages published in-process to a hub whose subscriber queue holds
/// two; the third message evicts the oldest, and the subscriber catching up writes the one
/// `fanout.dropped` warning of the burst (with `--features amqp`, `hub.consume(AmqpSource::new(..))`
/// feeds the same hub from RabbitMQ).
mod fanout_demo {
    use observa::fanout::{Filter, Hub, HubConfig, Message};

    pub(crate) async fn run() {
        let Ok(hub) = Hub::new(
            HubConfig::new("events")
                .with_metric_prefix("demo_sse")
                .with_queue_max(2),
        ) else {
            return;
        };
        let mut slow = hub.subscribe(Filter::all().tenant("acme"));
        for step in 1..=3 {
            let payload = format!("{{\"step\":{step}}}");
            hub.publish(
                Message::new("jobs.tenant.acme.job.42", payload)
                    .with_tenant_id("acme")
                    .with_job_id("42"),
            );
        }
        while let Some(m) = slow.try_recv() {
            println!("subscriber got {} bytes", m.payload().len());
        }
        drop(slow);
        hub.stop().await;
    }
}
