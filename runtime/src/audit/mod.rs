//! Durable, append-only, tamper-evident audit trails (DESIGN §4).
//!
//! An audit record is a row in a database, not a log line: it is authoritative for security
//! review, so it must be complete, durable and provably unmodified.
//!
//! # Pieces
//!
//! - [`NewRecord`] → [`Auditor::append`] → [`StoredRecord`]: a record gets the next gap-free
//!   sequence number of its trail, a UUID v7 id, an RFC 3339 UTC time (µs) and a SHA-256 hash
//!   chained to the previous record ([`record`] documents the canonical bytes).
//! - Stores, chosen by URL (`Config::audit_url` given to `init`, else `OBSERVA_AUDIT_URL`, default
//!   [`DEFAULT_URL`]):
//!   `sqlite:PATH` (embedded, WAL, `synchronous=FULL`, append-only triggers, unique `seq` index) and,
//!   with the `postgres` feature, `postgres://…?schema=NAME` for several replicas writing one
//!   trail (a head row locked `FOR UPDATE` in every transaction keeps `seq` and the chain
//!   gap-free across processes).
//! - **Group commit**: one writer thread per [`Auditor`] drains every pending record into one
//!   transaction with one durable commit and acknowledges each caller only after it. The API is
//!   blocking ([`Auditor::append`]) and async ([`Auditor::append_async`], no blocking of the
//!   executor).
//! - **Durability modes** ([`Durability`]): `durable` (default; an acknowledged record survives
//!   `kill -9` and power loss) and `buffered` (survives `kill -9`, may lose the last records on
//!   power loss).
//! - **Tamper evidence**: the hash chain, checkpoints every `checkpoint_every` records and on
//!   close (count + head hash, Ed25519-signed with `OBSERVA_AUDIT_SIGNING_KEY`), and the audit
//!   subsystem's own lifecycle as records: [`ACTION_STARTED`] (carrying the configuration) and
//!   [`ACTION_STOPPED`]. [`verify`] / `observa-audit verify <url>` report the first bad sequence
//!   number and what is wrong, including a checkpoint missing where one is due. Every checkpoint
//!   is also an `audit.checkpoint` log line, a witness that leaves the host with the logs:
//!   `observa-audit verify <url> --witness LOG` checks the trail against it. Verifying opens the
//!   store read-only and never changes it.
//! - **PostgreSQL**: TLS through rustls per libpq's `sslmode` (`disable`, `prefer`, `require`,
//!   `verify-ca`, `verify-full`) and `sslrootcert`; every write transaction pins `READ COMMITTED`
//!   and the durability mode's `synchronous_commit`, whatever the server defaults.
//! - **Failure policy** ([`Policy`]) for `#[audit]`: `fail_closed` (default) returns the
//!   [`AuditError`]; `degrade_and_alert` writes the record to a fallback sink
//!   ([`FallbackSink`]), counts it ([`degraded_count`]) and logs an ERROR `audit.degraded` line.
//!
//! # Write-ahead use (what `#[audit]` expands to)
//!
//! ```no_run
//! use observa::audit::{self, NewRecord, AuditOutcome, Policy};
//! # fn suspend() -> Result<(), std::io::Error> { Ok(()) }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let attempt = audit::begin(
//!     NewRecord::new("user.suspend", "admin-7").target("user-42"),
//!     Policy::FailClosed,
//! )?; // the `attempted` record is durable before the body runs
//! let result = suspend();
//! attempt.finish(AuditOutcome::from_result(&result))?; // the outcome record, linked by attempt_id
//! # Ok(()) }
//! ```

pub(crate) mod call;
mod config;
mod error;
mod fallback;
pub mod record;
mod store;
mod util;
mod verify;
mod writer;

pub use config::{
    AuditConfig, DEFAULT_CHECKPOINT_EVERY, DEFAULT_MAX_BATCH, DEFAULT_URL, Durability,
    FallbackSink, SigningKey,
};
pub use error::{AuditError, AuditErrorKind};
pub use fallback::{degraded_count, lost_count, set_fallback_sink};
pub use record::{
    AuditOutcome, Changes, Correlation, GENESIS_HASH, NewRecord, Origin, SCHEMA_VERSION, Severity,
    Source, StoredRecord,
};
pub use verify::{
    Finding, Problem, VerifyError, VerifyOptions, VerifyReport, WitnessCheckpoint, verify,
    verify_with,
};

use config::StoreUrl;
use record::Prepared;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use writer::{Reply, Sealer, Writer};

/// Action of the record written when an auditor opens its store; `changes.after` holds the
/// configuration (store kind, durability, checkpoint interval, signing public key, pid, version).
pub const ACTION_STARTED: &str = "audit.started";
/// Action of the record written when an auditor closes (followed by a closing checkpoint).
pub const ACTION_STOPPED: &str = "audit.stopped";
/// Actor of the audit subsystem's own records.
pub const SYSTEM_ACTOR: &str = "observa";

/// What an audited operation does when its record cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// The default. If the `attempted` record cannot be written the operation does not run and
    /// the caller gets the [`AuditError`]; if the outcome record cannot be written the caller
    /// gets the error too (the operation has run: the `attempted` record without an outcome shows
    /// it).
    #[default]
    FailClosed,
    /// The operation runs anyway; the record goes to the fallback sink, [`degraded_count`] grows
    /// and an ERROR `audit.degraded` line is logged. For operations that must stay available.
    DegradeAndAlert,
}

/// What happened to a record written under a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Receipt {
    /// Durably in the trail.
    Stored(Box<StoredRecord>),
    /// In the fallback sink (`degrade_and_alert` only).
    Degraded,
}

impl Receipt {
    /// The stored record, if it reached the trail.
    pub fn stored(&self) -> Option<&StoredRecord> {
        match self {
            Self::Stored(r) => Some(r),
            Self::Degraded => None,
        }
    }
}

struct Inner {
    writer: Writer,
    origin: Origin,
    store: &'static str,
    appended: AtomicU64,
    /// Id of this auditor's `audit.started` record, named by its `audit.stopped` record so the
    /// verifier knows which writer stopped.
    started: std::sync::OnceLock<String>,
}

impl Inner {
    fn close(&self) -> Result<(), AuditError> {
        let stopped = NewRecord::new(ACTION_STOPPED, SYSTEM_ACTOR)
            .category("audit")
            .severity(Severity::High)
            .changes(
                serde_json::Value::Null,
                serde_json::json!({
                    "pid": std::process::id(),
                    "records_appended": self.appended.load(Ordering::Relaxed),
                    "started_id": self.started.get(),
                }),
            );
        let p = Prepared::new(stopped, self.origin.clone(), None)?;
        let reply = Reply::Detached(Box::new(|r| {
            if let Ok(s) = r {
                on_recorded(&s);
            }
        }));
        self.writer.close(Some((p, reply)))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            crate::metrics::internal_error("audit");
            tracing::error!(target: "observa::audit", event = "audit.close_failed", error = %e);
        }
    }
}

/// A handle to one audit trail. Cheap to clone (all clones share one writer thread); the trail is
/// closed (`audit.stopped` + closing checkpoint) by [`Auditor::close`] or when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// CONTEXT HOOK: the single place where the ambient context ([`crate::context::with_current`])
/// fills a record: correlation id, tenant, user, the trace id of the `traceparent` being
/// continued, and the request source (client ip, user agent, session fingerprint) when an HTTP
/// request is in scope, and the bound named values (`bind(...)`, `bind_field`; sensitive names
/// masked by the context). Only empty fields are filled: explicit values win.
fn fill_from_context(record: &mut NewRecord) {
    fn fill(slot: &mut Option<String>, value: Option<&str>) {
        if slot.is_none()
            && let Some(v) = value
        {
            *slot = Some(v.to_owned());
        }
    }
    crate::context::with_current(|ctx| {
        fill(&mut record.correlation.correlation_id, ctx.correlation_id());
        fill(&mut record.tenant, ctx.tenant_id());
        fill(&mut record.user, ctx.user_id());
        // Validated by the crate's one `traceparent` parser (no all-zero or malformed ids).
        let trace_id = ctx
            .traceparent()
            .and_then(crate::carrier::TraceParent::parse)
            .map(|tp| tp.trace_id_hex());
        fill(&mut record.correlation.trace_id, trace_id.as_deref());
        if record.bound.is_empty() {
            record.bound = ctx
                .fields()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        }
        if let Some(src) = ctx.source() {
            fill(&mut record.source.ip, src.client_ip.as_deref());
            fill(&mut record.source.user_agent, src.user_agent.as_deref());
            fill(
                &mut record.source.session,
                src.session_fingerprint.as_deref(),
            );
        }
    });
}

/// `audit.started` and `audit.stopped` are observa's own lifecycle records: the verifier learns
/// from them which checkpoints are due, so callers cannot write them.
fn not_reserved(record: &NewRecord) -> Result<(), AuditError> {
    if record.action == ACTION_STARTED || record.action == ACTION_STOPPED {
        return Err(AuditError::new(
            AuditErrorKind::InvalidRecord,
            format!(
                "`action` `{}` is reserved for observa's own lifecycle records; name your action differently",
                record.action
            ),
        ));
    }
    Ok(())
}

/// Called once per stored record on the caller's side: the `audit.recorded` log line and the
/// `audit_events_total{category,action,outcome}` counter (labels bounded: categories and actions
/// come from code, and the registry's cardinality cap applies).
fn on_recorded(r: &StoredRecord) {
    static EVENTS: std::sync::OnceLock<Option<crate::metrics::CounterFamily>> =
        std::sync::OnceLock::new();
    let family = EVENTS.get_or_init(|| {
        crate::metrics::CounterFamily::new(
            "audit_events_total",
            "Audit records durably written, by category, action and outcome",
            &["category", "action", "outcome"],
        )
        .ok()
    });
    if let Some(f) = family {
        f.get(&[&r.category, &r.action, r.outcome.as_str()]).inc();
    }
    tracing::info!(
        target: "observa::audit",
        event = "audit.recorded",
        category = %r.category,
        action = %r.action,
        outcome = r.outcome.as_str(),
        seq = r.seq,
        audit_id = %r.id,
    );
}

impl Auditor {
    /// Opens the store named by `config.url`, starts its writer thread and durably writes the
    /// [`ACTION_STARTED`] record. Fails if that record cannot be written.
    pub fn open(config: AuditConfig) -> Result<Self, AuditError> {
        let (url, opts) = StoreUrl::parse(&config.url)?;
        let durability = opts.durability.unwrap_or(config.durability);
        let checkpoint_every = opts.checkpoint_every.unwrap_or(config.checkpoint_every);
        if checkpoint_every == 0 {
            return Err(AuditError::config("`checkpoint_every` must be at least 1"));
        }
        let sealer = Sealer {
            checkpoint_every,
            signer: config.signing_key.clone(),
        };
        let store = url.kind();
        let mut settings = serde_json::json!({
            "store": store,
            "durability": durability.as_str(),
            "checkpoint_every": checkpoint_every,
            "signing_key": config.signing_key.as_ref().map(|k| k.public_key_hex()),
            "schema_version": SCHEMA_VERSION,
            "observa_version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
        });
        if let StoreUrl::Postgres { schema, .. } = &url {
            settings["schema"] = serde_json::Value::String(schema.clone());
        }
        let writer = store::start_writer(url, durability, sealer, config.max_batch)?;
        let auditor = Self {
            inner: Arc::new(Inner {
                writer,
                origin: config.origin,
                store,
                appended: AtomicU64::new(0),
                started: std::sync::OnceLock::new(),
            }),
        };
        let started = NewRecord::new(ACTION_STARTED, SYSTEM_ACTOR)
            .category("audit")
            .severity(Severity::High)
            .changes(serde_json::Value::Null, settings);
        let started = auditor.append_raw(started)?;
        let _ = auditor.inner.started.set(started.id);
        Ok(auditor)
    }

    /// [`Auditor::open`] with [`AuditConfig::from_env`].
    pub fn from_env() -> Result<Self, AuditError> {
        Self::open(AuditConfig::from_env()?)
    }

    /// Store kind: `"sqlite"` or `"postgres"`.
    pub fn store_kind(&self) -> &'static str {
        self.inner.store
    }

    fn append_raw(&self, record: NewRecord) -> Result<StoredRecord, AuditError> {
        self.submit_blocking(Prepared::new(record, self.inner.origin.clone(), None)?)
    }

    fn submit_blocking(&self, p: Prepared) -> Result<StoredRecord, AuditError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.writer.submit(p, Reply::Blocking(tx));
        let r = rx.recv().unwrap_or_else(|_| Err(AuditError::closed()))?;
        self.inner.appended.fetch_add(1, Ordering::Relaxed);
        on_recorded(&r);
        Ok(r)
    }

    async fn submit_async(&self, p: Prepared) -> Result<StoredRecord, AuditError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.writer.submit(p, Reply::Async(tx));
        let r = rx.await.unwrap_or_else(|_| Err(AuditError::closed()))?;
        self.inner.appended.fetch_add(1, Ordering::Relaxed);
        on_recorded(&r);
        Ok(r)
    }

    /// Appends `record` and blocks until it is committed per the durability mode (one group
    /// commit shared with every concurrent caller). `Ok` means the record is in the trail; `Err`
    /// means it was not acknowledged (with [`AuditErrorKind::Io`] it may still have reached the
    /// disk, but never as a success).
    pub fn append(&self, mut record: NewRecord) -> Result<StoredRecord, AuditError> {
        fill_from_context(&mut record);
        not_reserved(&record)?;
        self.append_raw(record)
    }

    /// [`Auditor::append`] for async code: awaits the commit without blocking the executor.
    pub async fn append_async(&self, mut record: NewRecord) -> Result<StoredRecord, AuditError> {
        fill_from_context(&mut record);
        not_reserved(&record)?;
        let p = Prepared::new(record, self.inner.origin.clone(), None)?;
        self.submit_async(p).await
    }

    /// Durably writes `record` with outcome [`AuditOutcome::Attempted`] and returns the [`Attempt`]
    /// that writes the outcome record later. `Err` means the attempt is not recorded: under
    /// `fail_closed` the operation must not run.
    pub fn begin_attempt(&self, mut record: NewRecord) -> Result<Attempt, AuditError> {
        fill_from_context(&mut record);
        not_reserved(&record)?;
        record.outcome = AuditOutcome::Attempted;
        let p = Prepared::new(record.clone(), self.inner.origin.clone(), None)?;
        let stored = self.submit_blocking(p)?;
        Ok(Attempt::stored(
            self.clone(),
            record,
            stored,
            Policy::FailClosed,
        ))
    }

    /// [`Auditor::begin_attempt`] for async code.
    pub async fn begin_attempt_async(&self, mut record: NewRecord) -> Result<Attempt, AuditError> {
        fill_from_context(&mut record);
        not_reserved(&record)?;
        record.outcome = AuditOutcome::Attempted;
        let p = Prepared::new(record.clone(), self.inner.origin.clone(), None)?;
        let stored = self.submit_async(p).await?;
        Ok(Attempt::stored(
            self.clone(),
            record,
            stored,
            Policy::FailClosed,
        ))
    }

    /// Writes [`ACTION_STOPPED`] and a closing checkpoint, then stops the writer thread. Every
    /// clone of this auditor is closed; later appends fail with [`AuditErrorKind::Closed`].
    /// Idempotent.
    pub fn close(&self) -> Result<(), AuditError> {
        self.inner.close()
    }
}

/// An operation whose `attempted` record is written; [`Attempt::finish`] writes its outcome.
///
/// Dropped without `finish` (a cancelled future, an early return the macro did not see), it
/// queues a `failure` outcome with class `cancelled` without waiting for it.
#[must_use = "call `finish` with the outcome, or the operation is recorded as cancelled"]
pub struct Attempt {
    auditor: Option<Auditor>,
    template: Option<NewRecord>,
    attempted: Option<StoredRecord>,
    policy: Policy,
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("attempted", &self.attempted.as_ref().map(|r| r.seq))
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    fn stored(auditor: Auditor, template: NewRecord, stored: StoredRecord, policy: Policy) -> Self {
        Self {
            auditor: Some(auditor),
            template: Some(template),
            attempted: Some(stored),
            policy,
        }
    }

    /// The `attempted` record, when it reached the trail (`None` when degraded).
    pub fn attempted(&self) -> Option<&StoredRecord> {
        self.attempted.as_ref()
    }

    /// The failure policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn outcome_record(&mut self, outcome: AuditOutcome) -> Option<(NewRecord, Option<String>)> {
        let mut r = self.template.take()?;
        r.outcome = outcome;
        Some((r, self.attempted.as_ref().map(|a| a.id.clone())))
    }

    fn degrade(
        &self,
        r: &NewRecord,
        attempt_id: Option<&str>,
        e: &AuditError,
    ) -> Result<Receipt, AuditError> {
        match self.policy {
            Policy::FailClosed => Err(e.clone()),
            Policy::DegradeAndAlert => {
                fallback::degrade(r, &r.outcome, attempt_id, e);
                Ok(Receipt::Degraded)
            }
        }
    }

    /// Writes the outcome record (linked to the attempt by `attempt_id`) and waits for it.
    pub fn finish(mut self, outcome: AuditOutcome) -> Result<Receipt, AuditError> {
        let Some((r, attempt_id)) = self.outcome_record(outcome) else {
            return Err(AuditError::closed());
        };
        let Some(a) = self.auditor.clone() else {
            let e = AuditError::new(
                AuditErrorKind::Unavailable,
                "no audit store (degraded attempt)",
            );
            return self.degrade(&r, attempt_id.as_deref(), &e);
        };
        let result = Prepared::new(r.clone(), a.inner.origin.clone(), attempt_id.clone())
            .and_then(|p| a.submit_blocking(p));
        match result {
            Ok(s) => Ok(Receipt::Stored(Box::new(s))),
            Err(e) => self.degrade(&r, attempt_id.as_deref(), &e),
        }
    }

    /// [`Attempt::finish`] for async code.
    pub async fn finish_async(mut self, outcome: AuditOutcome) -> Result<Receipt, AuditError> {
        let Some((r, attempt_id)) = self.outcome_record(outcome) else {
            return Err(AuditError::closed());
        };
        let Some(a) = self.auditor.clone() else {
            let e = AuditError::new(
                AuditErrorKind::Unavailable,
                "no audit store (degraded attempt)",
            );
            return self.degrade(&r, attempt_id.as_deref(), &e);
        };
        let result = match Prepared::new(r.clone(), a.inner.origin.clone(), attempt_id.clone()) {
            Ok(p) => a.submit_async(p).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(s) => Ok(Receipt::Stored(Box::new(s))),
            Err(e) => self.degrade(&r, attempt_id.as_deref(), &e),
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let outcome = AuditOutcome::failure(
            "cancelled",
            "the operation was dropped before its outcome was recorded",
        );
        let Some((r, attempt_id)) = self.outcome_record(outcome) else {
            return;
        };
        let Some(a) = self.auditor.take() else {
            let e = AuditError::new(
                AuditErrorKind::Unavailable,
                "no audit store (degraded attempt)",
            );
            fallback::degrade(&r, &r.outcome, attempt_id.as_deref(), &e);
            return;
        };
        match Prepared::new(r.clone(), a.inner.origin.clone(), attempt_id.clone()) {
            Ok(p) => a.inner.writer.submit(
                p,
                Reply::Detached(Box::new(move |res| match res {
                    Ok(s) => on_recorded(&s),
                    Err(e) => fallback::degrade(&r, &r.outcome, attempt_id.as_deref(), &e),
                })),
            ),
            Err(e) => fallback::degrade(&r, &r.outcome, attempt_id.as_deref(), &e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The process-wide auditor.

static GLOBAL: RwLock<Option<Auditor>> = RwLock::new(None);
static CONFIGURED_URL: RwLock<Option<String>> = RwLock::new(None);

/// The store URL of the installed [`crate::Config`] ([`crate::Config::audit_url`]), used by
/// the lazy open of [`global`] instead of `OBSERVA_AUDIT_URL`.
pub(crate) fn set_configured_url(url: Option<String>) {
    match CONFIGURED_URL.write() {
        Ok(mut g) => *g = url,
        Err(p) => *p.into_inner() = url,
    }
}

/// [`AuditConfig::from_env`], with the store URL of the installed [`crate::Config`] when it
/// names one.
fn lazy_config() -> Result<AuditConfig, AuditError> {
    let mut c = AuditConfig::from_env()?;
    let configured = match CONFIGURED_URL.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    if let Some(url) = configured {
        c.url = url;
    }
    Ok(c)
}
static OPENING: Mutex<Option<(Instant, AuditError)>> = Mutex::new(None);

/// After a failed lazy open, [`global`] returns the same error for this long before trying again,
/// so a broken store does not cost a connection attempt per audited call.
pub const REOPEN_BACKOFF: Duration = Duration::from_secs(1);

/// The process-wide auditor: the one [`install`]ed, or else opened lazily on first use from the
/// environment ([`AuditConfig::from_env`]), with the store URL of the [`crate::Config`] given to
/// [`crate::init`] when it sets [`crate::Config::audit_url`] (code or `OBSERVA_AUDIT_URL`). A failed open is retried after [`REOPEN_BACKOFF`].
pub fn global() -> Result<Auditor, AuditError> {
    if let Some(a) = GLOBAL.read().ok().and_then(|g| g.clone()) {
        return Ok(a);
    }
    let mut opening = match OPENING.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(a) = GLOBAL.read().ok().and_then(|g| g.clone()) {
        return Ok(a);
    }
    if let Some((at, e)) = opening.as_ref()
        && at.elapsed() < REOPEN_BACKOFF
    {
        return Err(e.clone());
    }
    let opened = lazy_config().and_then(|c| {
        fallback::set_fallback_sink(c.fallback.clone());
        Auditor::open(c)
    });
    match opened {
        Ok(a) => {
            *opening = None;
            if let Ok(mut g) = GLOBAL.write() {
                *g = Some(a.clone());
            }
            Ok(a)
        }
        Err(e) => {
            *opening = Some((Instant::now(), e.clone()));
            Err(e)
        }
    }
}

/// Opens `config`'s store and makes it the process-wide auditor, replacing (and, once unused,
/// closing) any previous one. Also sets the fallback sink.
pub fn install(config: AuditConfig) -> Result<Auditor, AuditError> {
    fallback::set_fallback_sink(config.fallback.clone());
    let a = Auditor::open(config)?;
    let previous = match GLOBAL.write() {
        Ok(mut g) => g.replace(a.clone()),
        Err(p) => p.into_inner().replace(a.clone()),
    };
    if let Ok(mut o) = OPENING.lock() {
        *o = None;
    }
    drop(previous);
    Ok(a)
}

/// Closes the process-wide auditor, if any (`audit.stopped` + closing checkpoint). The next
/// [`global`] call opens a new one from the environment. Call it from shutdown code: a `static`
/// is never dropped.
pub fn shutdown() -> Result<(), AuditError> {
    let a = match GLOBAL.write() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    };
    match a {
        Some(a) => a.close(),
        None => Ok(()),
    }
}

/// Begins an audited operation on the [`global`] auditor under `policy`: what `#[audit]` calls
/// before the body. `Err` only under [`Policy::FailClosed`].
pub fn begin(mut record: NewRecord, policy: Policy) -> Result<Attempt, AuditError> {
    fill_from_context(&mut record);
    let result = not_reserved(&record).and_then(|()| global()).and_then(|a| {
        record.outcome = AuditOutcome::Attempted;
        let p = Prepared::new(record.clone(), a.inner.origin.clone(), None)?;
        let s = a.submit_blocking(p)?;
        Ok((a, s))
    });
    settle(record, policy, result)
}

/// [`begin`] for async functions.
pub async fn begin_async(mut record: NewRecord, policy: Policy) -> Result<Attempt, AuditError> {
    fill_from_context(&mut record);
    record.outcome = AuditOutcome::Attempted;
    let result = match not_reserved(&record).and_then(|()| global()) {
        Ok(a) => match Prepared::new(record.clone(), a.inner.origin.clone(), None) {
            Ok(p) => a.submit_async(p).await.map(|s| (a, s)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    settle(record, policy, result)
}

fn settle(
    mut record: NewRecord,
    policy: Policy,
    result: Result<(Auditor, StoredRecord), AuditError>,
) -> Result<Attempt, AuditError> {
    match (result, policy) {
        (Ok((a, s)), _) => Ok(Attempt::stored(a, record, s, policy)),
        (Err(e), Policy::FailClosed) => Err(e),
        (Err(e), Policy::DegradeAndAlert) => {
            record.outcome = AuditOutcome::Attempted;
            fallback::degrade(&record, &AuditOutcome::Attempted, None, &e);
            Ok(Attempt {
                auditor: None,
                template: Some(record),
                attempted: None,
                policy,
            })
        }
    }
}
