//! The audit record: what a caller hands in ([`NewRecord`]), what the store keeps
//! ([`StoredRecord`]) and the canonical bytes the hash chain is computed over.
//!
//! # Canonical bytes and the hash chain
//!
//! `record_hash = lowercase_hex(SHA-256(prev_hash || canonical))`, where `prev_hash` is the 64
//! ASCII hex characters of the previous record's `record_hash` (64 `0`s for the first record of a
//! trail, [`GENESIS_HASH`]) and `canonical` is the compact JSON object below, keys in exactly this
//! order, no whitespace, strings escaped by `serde_json`, absent values as `null`, integers as
//! JSON integers and no floats:
//!
//! ```text
//! {"seq":1,"schema_version":1,"trail":"…","id":"…","recorded_at":"…","action":"…",
//!  "category":"…","outcome":"attempted|success|failure","error_class":…,"error_message":…,
//!  "reason":…,"actor":"…","user_id":…,"target":…,"source_ip":…,"user_agent":…,
//!  "session_fp":…,"service":…,"version":…,"host":…,"correlation_id":…,"trace_id":…,
//!  "tenant":…,"changes":…,"severity":"…","attempt_id":…,"prev_hash":"…"}
//! ```
//!
//! `changes` is a JSON *string* holding the compact JSON text `{"before":…,"after":…}` exactly as
//! stored, so that re-parsing (float formatting, key order) can never change the bytes. When
//! named values were bound in the context of the call ([`NewRecord::bound`]), the same text ends
//! with a `"bound"` object of them, in binding order: `{"before":…,"after":…,"bound":{"job_id":
//! "42"}}`, or `{"bound":{…}}` for a record without changes. The canonical form is unchanged (the
//! text is hashed as stored), and a record without bound fields is stored and hashed exactly as
//! before they existed. Anyone can
//! re-implement the verifier from this paragraph and the table layout: the keys are the columns
//! of the `audit_records` table, in table order, except the last one, `record_hash`.

use super::error::{AuditError, AuditErrorKind};
use super::util;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::SystemTime;

/// Version of the record layout and canonical form written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// `prev_hash` of the first record of every trail: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Upper bound for most text fields, in bytes; longer values are cut with a `…[truncated]` marker
/// before sealing (the hash covers the cut value). `action` is never cut: it is rejected instead.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Upper bound for `error_message` and `reason`, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Upper bound for the JSON text of `changes`, in bytes; larger changes are replaced by
/// `{"truncated":true,"bytes":N}`.
pub const MAX_CHANGES_BYTES: usize = 64 * 1024;

/// How an audited operation ended, or that it is about to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Written durably *before* the operation runs (write-ahead). Its outcome record follows with
    /// `attempt_id` pointing at it; an attempt without one means the process died in between.
    Attempted,
    /// The operation completed.
    Success,
    /// The operation failed (returned an error, panicked or was cancelled).
    Failure {
        /// The error's type or class (`"AppError::NotFound"`, `"panic"`, `"cancelled"`).
        error_class: String,
        /// The error's message, already redacted by the caller; bounded to
        /// [`MAX_MESSAGE_BYTES`].
        message: String,
    },
}

impl Outcome {
    /// A failure with the given class and message.
    pub fn failure(error_class: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Failure {
            error_class: error_class.into(),
            message: message.into(),
        }
    }

    /// A failure from an error value: class is the error type's short name, message its
    /// `Display` with URL credentials and sensitive query values scrubbed; otherwise written as
    /// is: pass an error whose `Display` holds no other secrets.
    pub fn from_error<E: fmt::Display + ?Sized>(error: &E) -> Self {
        Self::failure(
            crate::encode::text::short_type_name(std::any::type_name::<E>()).to_owned(),
            crate::scrub::scrub(&error.to_string()).into_owned(),
        )
    }

    /// `Success` for `Ok`, [`Outcome::from_error`] for `Err`.
    pub fn from_result<T, E: fmt::Display>(result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Self::Success,
            Err(e) => Self::from_error(e),
        }
    }

    /// A failure for a panic payload (`&str` and `String` payloads keep their text).
    pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Self {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        Self::failure("panic", msg)
    }

    /// `"attempted"`, `"success"` or `"failure"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Attempted => "attempted",
            Self::Success => "success",
            Self::Failure { .. } => "failure",
        }
    }
}

/// How much a security reviewer should care. Default `medium`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Routine, expected (reads of sensitive data by an authorised role).
    Low,
    /// The default.
    #[default]
    Medium,
    /// Changes to access, money or identity (`user.suspend`, `role.grant`).
    High,
    /// Break-glass actions, key rotation, audit configuration.
    Critical,
}

impl Severity {
    /// `"low"`, `"medium"`, `"high"` or `"critical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses the names above (ASCII case-insensitive); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Medium, Self::High, Self::Critical]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the request came from, when an HTTP request is in scope. All optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Client IP address as text.
    pub ip: Option<String>,
    /// The `User-Agent` header (sanitised by the caller).
    pub user_agent: Option<String>,
    /// A fingerprint of the session (a keyed hash, never the session token itself).
    pub session: Option<String>,
}

/// Which service instance wrote the record (the "where" of DESIGN §4). Filled from the audit
/// configuration, not by callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Service name.
    pub service: Option<String>,
    /// Service version.
    pub version: Option<String>,
    /// Host name.
    pub host: Option<String>,
}

/// Correlation with logs and traces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correlation {
    /// The request or job correlation id.
    pub correlation_id: Option<String>,
    /// The W3C trace id, when tracing is on.
    pub trace_id: Option<String>,
}

/// Before/after state of what the operation changed, **already redacted** by the caller (the
/// `#[audit(changes = ...)]` expansion records through `Redact`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// State before the operation (`null` when created).
    pub before: serde_json::Value,
    /// State after the operation (`null` when deleted).
    pub after: serde_json::Value,
}

/// A record to append. `action` and `actor` are required; everything else is optional and the
/// sequence number, time, id and hashes are assigned by observa.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// What was done: a stable dotted identifier such as `"user.suspend"`. Required, at most
    /// [`MAX_FIELD_BYTES`], no control characters.
    pub action: String,
    /// Grouping for dashboards and the `audit_events_total` label. Empty means: the part of
    /// `action` before its first `.` (`"user"` for `"user.suspend"`).
    pub category: String,
    /// Outcome; [`crate::audit::Auditor::begin_attempt`] overrides it with `Attempted`.
    pub outcome: Outcome,
    /// Why (free text supplied by the caller, for example a ticket reference).
    pub reason: Option<String>,
    /// Who did it (user id, service account, `"system"`). Required.
    pub actor: String,
    /// The authenticated user bound in the context, when different from or in addition to `actor`.
    pub user: Option<String>,
    /// What it was done to.
    pub target: Option<String>,
    /// Request origin.
    pub source: Source,
    /// Correlation ids.
    pub correlation: Correlation,
    /// Tenant id.
    pub tenant: Option<String>,
    /// Redacted before/after state.
    pub changes: Option<Changes>,
    /// Severity.
    pub severity: Severity,
    /// Named values bound in the context of the call (`#[observed(bind(...))]`,
    /// `observa::context::bind_field`), in binding order, as `(name, value)`; filled from the
    /// context when empty, sensitive names already masked there. Stored inside the `changes`
    /// text under `"bound"` (module docs).
    pub bound: Vec<(String, String)>,
}

impl NewRecord {
    /// A record of `action` by `actor` with outcome `Success` and every optional field empty.
    pub fn new(action: impl Into<String>, actor: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            category: String::new(),
            outcome: Outcome::Success,
            reason: None,
            actor: actor.into(),
            user: None,
            target: None,
            source: Source::default(),
            correlation: Correlation::default(),
            tenant: None,
            changes: None,
            severity: Severity::default(),
            bound: Vec::new(),
        }
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the category.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = category.into();
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the (already redacted) changes.
    pub fn changes(mut self, before: serde_json::Value, after: serde_json::Value) -> Self {
        self.changes = Some(Changes { before, after });
        self
    }
}

/// A record as stored in the trail: sealed with its sequence number and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Id of the trail (stream) the record belongs to, random per store.
    pub trail: String,
    /// Per-trail sequence number: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// Record id: a UUID v7 string.
    pub id: String,
    /// When the record was created, RFC 3339 UTC with microseconds.
    pub time: String,
    /// See [`NewRecord::action`].
    pub action: String,
    /// See [`NewRecord::category`] (never empty once stored).
    pub category: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// See [`NewRecord::reason`].
    pub reason: Option<String>,
    /// See [`NewRecord::actor`].
    pub actor: String,
    /// See [`NewRecord::user`].
    pub user: Option<String>,
    /// See [`NewRecord::target`].
    pub target: Option<String>,
    /// Request origin.
    pub source: Source,
    /// Writing service instance.
    pub origin: Origin,
    /// Correlation ids.
    pub correlation: Correlation,
    /// Tenant id.
    pub tenant: Option<String>,
    /// Compact JSON text `{"before":…,"after":…}`, exactly as hashed; see
    /// [`StoredRecord::changes_value`].
    pub changes: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// For an outcome record: the `id` of its `attempted` record.
    pub attempt_id: Option<String>,
    /// `record_hash` of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and the canonical bytes (module docs), lowercase hex.
    pub record_hash: String,
}

impl StoredRecord {
    /// The changes parsed back into JSON.
    pub fn changes_value(&self) -> Option<serde_json::Value> {
        self.changes
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }

    pub(crate) fn view(&self) -> CanonicalView<'_> {
        let (error_class, error_message) = match &self.outcome {
            Outcome::Failure {
                error_class,
                message,
            } => (Some(error_class.as_str()), Some(message.as_str())),
            _ => (None, None),
        };
        CanonicalView {
            schema_version: self.schema_version as i64,
            trail: &self.trail,
            seq: self.seq as i64,
            id: &self.id,
            recorded_at: &self.time,
            action: &self.action,
            category: &self.category,
            outcome: self.outcome.as_str(),
            error_class,
            error_message,
            reason: self.reason.as_deref(),
            actor: &self.actor,
            user_id: self.user.as_deref(),
            target: self.target.as_deref(),
            source_ip: self.source.ip.as_deref(),
            user_agent: self.source.user_agent.as_deref(),
            session_fp: self.source.session.as_deref(),
            service: self.origin.service.as_deref(),
            version: self.origin.version.as_deref(),
            host: self.origin.host.as_deref(),
            correlation_id: self.correlation.correlation_id.as_deref(),
            trace_id: self.correlation.trace_id.as_deref(),
            tenant: self.tenant.as_deref(),
            changes: self.changes.as_deref(),
            severity: self.severity.as_str(),
            attempt_id: self.attempt_id.as_deref(),
            prev_hash: &self.prev_hash,
        }
    }
}

/// Every hashed field as borrowed text, in canonical order. Built from a [`StoredRecord`] when
/// sealing and from raw table columns when verifying, so both sides hash the same bytes.
#[derive(Debug, Serialize)]
pub(crate) struct CanonicalView<'a> {
    pub seq: i64,
    pub schema_version: i64,
    pub trail: &'a str,
    pub id: &'a str,
    pub recorded_at: &'a str,
    pub action: &'a str,
    pub category: &'a str,
    pub outcome: &'a str,
    pub error_class: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub actor: &'a str,
    pub user_id: Option<&'a str>,
    pub target: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub session_fp: Option<&'a str>,
    pub service: Option<&'a str>,
    pub version: Option<&'a str>,
    pub host: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub changes: Option<&'a str>,
    pub severity: &'a str,
    pub attempt_id: Option<&'a str>,
    pub prev_hash: &'a str,
}

/// The text columns of `audit_records`, in canonical order, then `record_hash`. The table also
/// has the integer columns `seq` and `schema_version`.
pub(crate) const TEXT_COLUMNS: [&str; 26] = [
    "trail",
    "id",
    "recorded_at",
    "action",
    "category",
    "outcome",
    "error_class",
    "error_message",
    "reason",
    "actor",
    "user_id",
    "target",
    "source_ip",
    "user_agent",
    "session_fp",
    "service",
    "version",
    "host",
    "correlation_id",
    "trace_id",
    "tenant",
    "changes",
    "severity",
    "attempt_id",
    "prev_hash",
    "record_hash",
];

/// Text columns that are `NOT NULL`.
pub(crate) const REQUIRED: [usize; 9] = [0, 1, 2, 3, 4, 5, 9, 22, 24];

impl<'a> CanonicalView<'a> {
    /// The values of [`TEXT_COLUMNS`] for this view and `record_hash`.
    pub fn texts(&self, record_hash: &'a str) -> [Option<&'a str>; 26] {
        [
            Some(self.trail),
            Some(self.id),
            Some(self.recorded_at),
            Some(self.action),
            Some(self.category),
            Some(self.outcome),
            self.error_class,
            self.error_message,
            self.reason,
            Some(self.actor),
            self.user_id,
            self.target,
            self.source_ip,
            self.user_agent,
            self.session_fp,
            self.service,
            self.version,
            self.host,
            self.correlation_id,
            self.trace_id,
            self.tenant,
            self.changes,
            Some(self.severity),
            self.attempt_id,
            Some(self.prev_hash),
            Some(record_hash),
        ]
    }

    /// A view over raw column values as read back from a store. `Err` names the first required
    /// column that is NULL.
    pub fn from_columns(
        schema_version: i64,
        seq: i64,
        t: &'a [Option<String>; 26],
    ) -> Result<Self, &'static str> {
        for i in REQUIRED {
            if t[i].is_none() {
                return Err(TEXT_COLUMNS[i]);
            }
        }
        let req = |i: usize| t[i].as_deref().unwrap_or("");
        let o = |i: usize| t[i].as_deref();
        Ok(Self {
            schema_version,
            trail: req(0),
            seq,
            id: req(1),
            recorded_at: req(2),
            action: req(3),
            category: req(4),
            outcome: req(5),
            error_class: o(6),
            error_message: o(7),
            reason: o(8),
            actor: req(9),
            user_id: o(10),
            target: o(11),
            source_ip: o(12),
            user_agent: o(13),
            session_fp: o(14),
            service: o(15),
            version: o(16),
            host: o(17),
            correlation_id: o(18),
            trace_id: o(19),
            tenant: o(20),
            changes: o(21),
            severity: req(22),
            attempt_id: o(23),
            prev_hash: req(24),
        })
    }
}

impl CanonicalView<'_> {
    /// The canonical bytes (module docs).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `record_hash` for these fields.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(self.canonical_bytes());
        util::hex(&h.finalize())
    }
}

/// A validated record waiting in the writer queue: everything but the chain position.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub id: String,
    pub time: String,
    pub action: String,
    pub category: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub actor: String,
    pub user: Option<String>,
    pub target: Option<String>,
    pub source: Source,
    pub origin: Origin,
    pub correlation: Correlation,
    pub tenant: Option<String>,
    pub changes: Option<String>,
    pub severity: Severity,
    pub attempt_id: Option<String>,
    /// The canonical JSON of every field between `trail` and `prev_hash` (`"id":…` to
    /// `"attempt_id":…`), computed on the caller's thread so the writer thread only frames it
    /// with `seq`, `trail` and `prev_hash` and hashes.
    mid: Vec<u8>,
}

/// The `changes` text with the bound fields appended under `"bound"` (module docs): the text is
/// left untouched when nothing is bound.
fn with_bound(changes: Option<String>, bound: &[(String, String)]) -> Option<String> {
    if bound.is_empty() {
        return changes;
    }
    let mut obj = String::from("{");
    for (i, (k, v)) in bound.iter().enumerate() {
        if i > 0 {
            obj.push(',');
        }
        // Serialising a `&str` cannot fail.
        obj.push_str(&serde_json::to_string(k).unwrap_or_default());
        obj.push(':');
        obj.push_str(
            &serde_json::to_string(&util::bound(v.clone(), MAX_FIELD_BYTES)).unwrap_or_default(),
        );
    }
    obj.push('}');
    Some(match changes {
        // Every `changes` text is a non-empty JSON object (`{"before":…,"after":…}` or the
        // truncation marker): insert before its closing brace.
        Some(c) if c.len() > 2 && c.starts_with('{') && c.ends_with('}') => {
            format!("{},\"bound\":{obj}}}", &c[..c.len() - 1])
        }
        _ => format!("{{\"bound\":{obj}}}"),
    })
}

fn opt(v: Option<String>) -> Option<String> {
    v.map(|s| util::bound(s, MAX_FIELD_BYTES))
}

impl Prepared {
    /// Validates and bounds `r`, assigning its id and time. Rejects an empty or oversized
    /// `action`, an empty `actor` and control characters in `action`.
    pub fn new(
        r: NewRecord,
        origin: Origin,
        attempt_id: Option<String>,
    ) -> Result<Self, AuditError> {
        let action = r.action;
        if action.is_empty()
            || action.len() > MAX_FIELD_BYTES
            || action.chars().any(char::is_control)
        {
            return Err(AuditError::new(
                AuditErrorKind::InvalidRecord,
                "`action` must be 1 to 1024 bytes without control characters",
            ));
        }
        if r.actor.is_empty() {
            return Err(AuditError::new(
                AuditErrorKind::InvalidRecord,
                "`actor` must not be empty: name who performed the action",
            ));
        }
        let category = if r.category.is_empty() {
            action.split('.').next().unwrap_or(&action).to_owned()
        } else {
            util::bound(r.category, MAX_FIELD_BYTES)
        };
        let outcome = match r.outcome {
            Outcome::Failure {
                error_class,
                message,
            } => Outcome::Failure {
                error_class: util::bound(error_class, MAX_FIELD_BYTES),
                message: util::bound(message, MAX_MESSAGE_BYTES),
            },
            o => o,
        };
        let changes = match r.changes {
            None => None,
            Some(c) => {
                let text = serde_json::to_string(&c).map_err(|e| {
                    AuditError::new(AuditErrorKind::InvalidRecord, "`changes` is not JSON")
                        .with_source(e)
                })?;
                Some(if text.len() > MAX_CHANGES_BYTES {
                    format!("{{\"truncated\":true,\"bytes\":{}}}", text.len())
                } else {
                    text
                })
            }
        };
        let changes = with_bound(changes, &r.bound);
        let now = SystemTime::now();
        let mut p = Self {
            id: util::uuid_v7(now),
            time: util::rfc3339_micros(now),
            action,
            category,
            outcome,
            reason: r.reason.map(|s| util::bound(s, MAX_MESSAGE_BYTES)),
            actor: util::bound(r.actor, MAX_FIELD_BYTES),
            user: opt(r.user),
            target: opt(r.target),
            source: Source {
                ip: opt(r.source.ip),
                user_agent: opt(r.source.user_agent),
                session: opt(r.source.session),
            },
            origin,
            correlation: Correlation {
                correlation_id: opt(r.correlation.correlation_id),
                trace_id: opt(r.correlation.trace_id),
            },
            tenant: opt(r.tenant),
            changes,
            severity: r.severity,
            attempt_id,
            mid: Vec::new(),
        };
        p.mid = p.canonical_mid();
        Ok(p)
    }

    /// Serialises the view with empty placeholders for the chain fields and cuts the known
    /// frame off: `{"seq":0,"schema_version":N,"trail":"",` … `,"prev_hash":""}`.
    fn canonical_mid(&self) -> Vec<u8> {
        let (error_class, error_message) = match &self.outcome {
            Outcome::Failure {
                error_class,
                message,
            } => (Some(error_class.as_str()), Some(message.as_str())),
            _ => (None, None),
        };
        let view = CanonicalView {
            seq: 0,
            schema_version: i64::from(SCHEMA_VERSION),
            trail: "",
            id: &self.id,
            recorded_at: &self.time,
            action: &self.action,
            category: &self.category,
            outcome: self.outcome.as_str(),
            error_class,
            error_message,
            reason: self.reason.as_deref(),
            actor: &self.actor,
            user_id: self.user.as_deref(),
            target: self.target.as_deref(),
            source_ip: self.source.ip.as_deref(),
            user_agent: self.source.user_agent.as_deref(),
            session_fp: self.source.session.as_deref(),
            service: self.origin.service.as_deref(),
            version: self.origin.version.as_deref(),
            host: self.origin.host.as_deref(),
            correlation_id: self.correlation.correlation_id.as_deref(),
            trace_id: self.correlation.trace_id.as_deref(),
            tenant: self.tenant.as_deref(),
            changes: self.changes.as_deref(),
            severity: self.severity.as_str(),
            attempt_id: self.attempt_id.as_deref(),
            prev_hash: "",
        };
        let full = view.canonical_bytes();
        let prefix = format!("{{\"seq\":0,\"schema_version\":{SCHEMA_VERSION},\"trail\":\"\",");
        let suffix = b",\"prev_hash\":\"\"}";
        match full
            .strip_prefix(prefix.as_bytes())
            .and_then(|rest| rest.strip_suffix(suffix))
        {
            Some(mid) => mid.to_vec(),
            // Unreachable with serde_json's compact output; `seal` then falls back to the view.
            None => Vec::new(),
        }
    }

    /// Seals the record at `seq` after `prev_hash`.
    pub fn seal(self, trail: &str, seq: u64, prev_hash: &str) -> StoredRecord {
        let mut rec = StoredRecord {
            schema_version: SCHEMA_VERSION,
            trail: trail.to_owned(),
            seq,
            id: self.id,
            time: self.time,
            action: self.action,
            category: self.category,
            outcome: self.outcome,
            reason: self.reason,
            actor: self.actor,
            user: self.user,
            target: self.target,
            source: self.source,
            origin: self.origin,
            correlation: self.correlation,
            tenant: self.tenant,
            changes: self.changes,
            severity: self.severity,
            attempt_id: self.attempt_id,
            prev_hash: prev_hash.to_owned(),
            record_hash: String::new(),
        };
        rec.record_hash = if self.mid.is_empty() {
            rec.view().hash()
        } else {
            // Same bytes as `rec.view().canonical_bytes()`, framed around the precomputed middle.
            let mut h = Sha256::new();
            h.update(prev_hash.as_bytes());
            h.update(
                format!("{{\"seq\":{seq},\"schema_version\":{SCHEMA_VERSION},\"trail\":")
                    .as_bytes(),
            );
            h.update(serde_json::to_string(trail).unwrap_or_default().as_bytes());
            h.update(b",");
            h.update(&self.mid);
            h.update(b",\"prev_hash\":");
            h.update(
                serde_json::to_string(prev_hash)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            h.update(b"}");
            util::hex(&h.finalize())
        };
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_are_stable_and_ordered() {
        let p = Prepared::new(
            NewRecord::new("user.suspend", "admin-1")
                .target("user-9")
                .changes(serde_json::json!({"b": 1, "a": 2}), serde_json::Value::Null),
            Origin::default(),
            None,
        )
        .unwrap();
        assert!(!p.mid.is_empty());
        let r = p.seal("trail-\"x", 1, GENESIS_HASH);
        assert_eq!(r.record_hash, r.view().hash(), "fast path = canonical view");
        let p = Prepared::new(
            NewRecord::new("user.suspend", "admin-1")
                .target("user-9")
                .outcome(Outcome::failure("E", "multi\nline \u{1b} \"quoted\""))
                .changes(serde_json::json!({"b": 1, "a": 2}), serde_json::Value::Null),
            Origin::default(),
            None,
        )
        .unwrap();
        let r = p.seal("trail-x", 1, GENESIS_HASH);
        assert_eq!(r.record_hash, r.view().hash(), "fast path = canonical view");
        assert_eq!(r.category, "user");
        let bytes = String::from_utf8(r.view().canonical_bytes()).unwrap();
        assert!(bytes.starts_with("{\"seq\":1,\"schema_version\":1,\"trail\":\"trail-x\","));
        assert!(bytes.ends_with(&format!("\"prev_hash\":\"{GENESIS_HASH}\"}}")));
        assert_eq!(r.record_hash, r.view().hash());
        let mut m = r.clone();
        m.actor.push('x');
        assert_ne!(m.view().hash(), r.record_hash);
    }

    #[test]
    fn bound_fields_go_inside_changes_and_nothing_else_moves() {
        let plain = NewRecord::new("job.run", "worker")
            .changes(serde_json::json!({"a": 1}), serde_json::Value::Null);
        let mut bound = plain.clone();
        bound.bound = vec![
            ("job_id".into(), "42".into()),
            ("job_type".into(), "shop\"ify".into()),
        ];
        let p = Prepared::new(plain, Origin::default(), None).unwrap();
        assert_eq!(
            p.changes.as_deref(),
            Some(r#"{"before":{"a":1},"after":null}"#)
        );
        let p = Prepared::new(bound.clone(), Origin::default(), None).unwrap();
        assert_eq!(
            p.changes.as_deref(),
            Some(
                r#"{"before":{"a":1},"after":null,"bound":{"job_id":"42","job_type":"shop\"ify"}}"#
            )
        );
        let r = p.seal("t", 1, GENESIS_HASH);
        assert_eq!(r.record_hash, r.view().hash(), "fast path = canonical view");
        bound.changes = None;
        let p = Prepared::new(bound, Origin::default(), None).unwrap();
        assert_eq!(
            p.changes.as_deref(),
            Some(r#"{"bound":{"job_id":"42","job_type":"shop\"ify"}}"#)
        );
        let p = Prepared::new(NewRecord::new("job.run", "w"), Origin::default(), None).unwrap();
        assert_eq!(p.changes, None);
    }

    #[test]
    fn rejects_missing_action_or_actor() {
        let e = Prepared::new(NewRecord::new("", "a"), Origin::default(), None).unwrap_err();
        assert_eq!(e.kind(), AuditErrorKind::InvalidRecord);
        let e = Prepared::new(NewRecord::new("a.b", ""), Origin::default(), None).unwrap_err();
        assert_eq!(e.kind(), AuditErrorKind::InvalidRecord);
        let e = Prepared::new(NewRecord::new("a\nb", "x"), Origin::default(), None).unwrap_err();
        assert_eq!(e.kind(), AuditErrorKind::InvalidRecord);
    }

    #[test]
    fn outcome_helpers() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("boom"));
        match Outcome::from_result(&r) {
            Outcome::Failure {
                error_class,
                message,
            } => {
                assert_eq!(error_class, "Error");
                assert_eq!(message, "boom");
            }
            o => panic!("unexpected {o:?}"),
        }
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse("nope"), None);
    }
}

/// The hash of a fixed record at a fixed time, pinned: any change of the canonical form (column
/// order, names, escaping, framing) breaks every stored trail and must fail here first.
#[cfg(test)]
mod golden {
    use super::*;

    fn fixed(r: NewRecord, attempt_id: Option<String>) -> StoredRecord {
        let origin = Origin {
            service: Some("billing".into()),
            version: Some("3.1.4".into()),
            host: Some("host-\"7\"".into()),
        };
        let mut p = Prepared::new(r, origin, attempt_id).unwrap();
        p.id = "018f2d3c-4b5a-7c6d-8e9f-0a1b2c3d4e5f".into();
        p.time = "2026-12-02T15:04:05.123456Z".into();
        p.mid = p.canonical_mid();
        p.seal(
            "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000",
            7,
            "5f2b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
        )
    }

    fn full() -> NewRecord {
        let mut r = NewRecord::new("user.suspend", "admin-1")
            .category("identity")
            .target("user-9")
            .reason("ticket SEC-12 \u{e9}\n")
            .tenant("acme")
            .severity(Severity::High)
            .outcome(Outcome::failure("AppError::NotFound", "no \"user\"\t9"))
            .changes(
                serde_json::json!({"status": "active", "n": 1.5}),
                serde_json::json!({"status": "suspended"}),
            );
        r.user = Some("u-1".into());
        r.source = Source {
            ip: Some("203.0.113.9".into()),
            user_agent: Some("curl/8".into()),
            session: Some("fp-1".into()),
        };
        r.correlation = Correlation {
            correlation_id: Some("corr-1".into()),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        };
        r.bound = vec![("job_id".into(), "42".into())];
        r
    }

    const FULL_CANONICAL: &str = concat!(
        r#"{"seq":7,"schema_version":1,"trail":"0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000","#,
        r#""id":"018f2d3c-4b5a-7c6d-8e9f-0a1b2c3d4e5f","recorded_at":"2026-12-02T15:04:05.123456Z","#,
        r#""action":"user.suspend","category":"identity","outcome":"failure","#,
        r#""error_class":"AppError::NotFound","error_message":"no \"user\"\t9","#,
        r#""reason":"ticket SEC-12 é\n","actor":"admin-1","user_id":"u-1","target":"user-9","#,
        r#""source_ip":"203.0.113.9","user_agent":"curl/8","session_fp":"fp-1","#,
        r#""service":"billing","version":"3.1.4","host":"host-\"7\"","#,
        r#""correlation_id":"corr-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","#,
        r#""tenant":"acme","changes":"{\"before\":{\"n\":1.5,\"status\":\"active\"},\"after\":{\"status\":\"suspended\"},\"bound\":{\"job_id\":\"42\"}}","#,
        r#""severity":"high","attempt_id":"018f0000-0000-7000-8000-000000000001","#,
        r#""prev_hash":"5f2b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"}"#
    );
    const FULL_HASH: &str = "7f31a99cac5ca9034731b41e2b80cec69a3c4d1bd60d6d63bc291dae3d2def22";
    const MINIMAL_HASH: &str = "cdd909cdb512ab5af071f77cf69eb1da1a143d4015453b3998fe737f89fee9aa";

    #[test]
    fn golden_hash_of_a_fixed_record() {
        let r = fixed(full(), Some("018f0000-0000-7000-8000-000000000001".into()));
        let canonical = String::from_utf8(r.view().canonical_bytes()).unwrap();
        assert_eq!(canonical, FULL_CANONICAL);
        assert_eq!(r.record_hash, FULL_HASH);
        assert_eq!(r.view().hash(), FULL_HASH);
        let m = fixed(NewRecord::new("job.run", "worker"), None);
        assert_eq!(m.record_hash, MINIMAL_HASH);
        assert_eq!(m.view().hash(), MINIMAL_HASH);
    }
}
