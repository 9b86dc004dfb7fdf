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
pub enum AuditOutcome {
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

impl AuditOutcome {
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

    /// `Success` for `Ok`, [`AuditOutcome::from_error`] for `Err`.
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
    /// AuditOutcome; [`crate::audit::Auditor::begin_attempt`] overrides it with `Attempted`.
    pub outcome: AuditOutcome,
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
            outcome: AuditOutcome::Success,
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
    pub fn outcome(mut self, outcome: AuditOutcome) -> Self {
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
    pub outcome: AuditOutcome,
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

    /// The record's columns, in table order.
    pub(crate) fn row(&self) -> Row<'_> {
        Row(COLUMNS.map(|c| (c.get)(self)))
    }

    fn error_class(&self) -> Option<&str> {
        match &self.outcome {
            AuditOutcome::Failure { error_class, .. } => Some(error_class),
            _ => None,
        }
    }

    fn error_message(&self) -> Option<&str> {
        match &self.outcome {
            AuditOutcome::Failure { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// 64-bit integer.
    BigInt,
    /// 32-bit integer.
    Int,
    /// UTF-8 text.
    Text,
}

impl ColumnType {
    /// The SQLite type (tables are `STRICT`).
    pub(crate) fn sqlite(self) -> &'static str {
        match self {
            Self::BigInt | Self::Int => "INTEGER",
            Self::Text => "TEXT",
        }
    }

    /// The PostgreSQL type.
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(self) -> &'static str {
        match self {
            Self::BigInt => "BIGINT",
            Self::Int => "INTEGER",
            Self::Text => "TEXT",
        }
    }
}

/// One column of `audit_records`.
#[derive(Clone, Copy)]
pub(crate) struct Column {
    /// Column name, and key in the canonical JSON.
    pub name: &'static str,
    /// Storage type.
    pub ty: ColumnType,
    /// Whether the column may be NULL.
    pub nullable: bool,
    /// Whether the value is part of the canonical bytes (every column but `record_hash`).
    pub hashed: bool,
    /// Whether the value is the record's place in the chain, assigned when it is sealed
    /// (`seq`, `trail`, `prev_hash`, `record_hash`) rather than when it is prepared.
    pub sealed: bool,
    /// The value of a stored record.
    pub get: for<'r> fn(&'r StoredRecord) -> Cell<'r>,
}

impl fmt::Debug for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

const fn column(
    name: &'static str,
    ty: ColumnType,
    nullable: bool,
    get: for<'r> fn(&'r StoredRecord) -> Cell<'r>,
) -> Column {
    Column {
        name,
        ty,
        nullable,
        hashed: true,
        sealed: false,
        get,
    }
}

const fn sealed(c: Column) -> Column {
    Column { sealed: true, ..c }
}

use ColumnType::{BigInt, Int, Text};

/// The columns of `audit_records`, in table order: the one definition the table layouts of both
/// stores, their INSERT and SELECT statements, the read-back rows and the canonical bytes (module
/// docs: the keys are these names, in this order, without `record_hash`) are derived from.
pub(crate) const COLUMNS: [Column; 28] = [
    sealed(column("seq", BigInt, false, |r| Cell::Int(r.seq as i64))),
    column("schema_version", Int, false, |r| {
        Cell::Int(i64::from(r.schema_version))
    }),
    sealed(column("trail", Text, false, |r| Cell::Text(Some(&r.trail)))),
    column("id", Text, false, |r| Cell::Text(Some(&r.id))),
    column("recorded_at", Text, false, |r| Cell::Text(Some(&r.time))),
    column("action", Text, false, |r| Cell::Text(Some(&r.action))),
    column("category", Text, false, |r| Cell::Text(Some(&r.category))),
    column("outcome", Text, false, |r| {
        Cell::Text(Some(r.outcome.as_str()))
    }),
    column("error_class", Text, true, |r| Cell::Text(r.error_class())),
    column("error_message", Text, true, |r| {
        Cell::Text(r.error_message())
    }),
    column("reason", Text, true, |r| Cell::Text(r.reason.as_deref())),
    column("actor", Text, false, |r| Cell::Text(Some(&r.actor))),
    column("user_id", Text, true, |r| Cell::Text(r.user.as_deref())),
    column("target", Text, true, |r| Cell::Text(r.target.as_deref())),
    column("source_ip", Text, true, |r| {
        Cell::Text(r.source.ip.as_deref())
    }),
    column("user_agent", Text, true, |r| {
        Cell::Text(r.source.user_agent.as_deref())
    }),
    column("session_fp", Text, true, |r| {
        Cell::Text(r.source.session.as_deref())
    }),
    column("service", Text, true, |r| {
        Cell::Text(r.origin.service.as_deref())
    }),
    column("version", Text, true, |r| {
        Cell::Text(r.origin.version.as_deref())
    }),
    column("host", Text, true, |r| Cell::Text(r.origin.host.as_deref())),
    column("correlation_id", Text, true, |r| {
        Cell::Text(r.correlation.correlation_id.as_deref())
    }),
    column("trace_id", Text, true, |r| {
        Cell::Text(r.correlation.trace_id.as_deref())
    }),
    column("tenant", Text, true, |r| Cell::Text(r.tenant.as_deref())),
    column("changes", Text, true, |r| Cell::Text(r.changes.as_deref())),
    column("severity", Text, false, |r| {
        Cell::Text(Some(r.severity.as_str()))
    }),
    column("attempt_id", Text, true, |r| {
        Cell::Text(r.attempt_id.as_deref())
    }),
    sealed(column("prev_hash", Text, false, |r| {
        Cell::Text(Some(&r.prev_hash))
    })),
    // Nullable in the table as it always was; the verifier rejects a NULL as not a hash.
    Column {
        hashed: false,
        ..sealed(column("record_hash", Text, true, |r| {
            Cell::Text(Some(&r.record_hash))
        }))
    },
];

/// The column names of `audit_records`, in table order (for tests that tamper with a table).
#[doc(hidden)]
pub const COLUMN_NAMES: [&str; 28] = {
    let mut names = [""; 28];
    let mut i = 0;
    while i < COLUMNS.len() {
        names[i] = COLUMNS[i].name;
        i += 1;
    }
    names
};

/// The position of the column `name` in [`COLUMNS`] (a compile error when there is none).
const fn col(name: &str) -> usize {
    let mut i = 0;
    while i < COLUMNS.len() {
        let c = COLUMNS[i].name.as_bytes();
        let n = name.as_bytes();
        if c.len() == n.len() {
            let mut j = 0;
            while j < n.len() && c[j] == n[j] {
                j += 1;
            }
            if j == n.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("no such column")
}

/// Positions in [`COLUMNS`] of the columns the verifier reads by name.
pub(crate) mod cols {
    use super::col;
    pub(crate) const SEQ: usize = col("seq");
    pub(crate) const SCHEMA_VERSION: usize = col("schema_version");
    pub(crate) const TRAIL: usize = col("trail");
    pub(crate) const ID: usize = col("id");
    pub(crate) const RECORDED_AT: usize = col("recorded_at");
    pub(crate) const ACTION: usize = col("action");
    pub(crate) const ACTOR: usize = col("actor");
    pub(crate) const HOST: usize = col("host");
    pub(crate) const CHANGES: usize = col("changes");
    pub(crate) const PREV_HASH: usize = col("prev_hash");
    pub(crate) const RECORD_HASH: usize = col("record_hash");
}

/// One column value, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell<'a> {
    /// An integer column.
    Int(i64),
    /// A text column (`None`: NULL).
    Text(Option<&'a str>),
}

impl Serialize for Cell<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(i) => s.serialize_i64(*i),
            Self::Text(Some(t)) => s.serialize_str(t),
            Self::Text(None) => s.serialize_none(),
        }
    }
}

/// One column value as read back from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawCell {
    /// An integer column.
    Int(i64),
    /// A text column (`None`: NULL).
    Text(Option<String>),
}

impl Default for RawCell {
    fn default() -> Self {
        Self::Text(None)
    }
}

/// Every column of one record, in table order. Built from a [`StoredRecord`] when writing and
/// from raw table columns when verifying, so both sides hash the same bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a>(pub [Cell<'a>; 28]);

impl<'a> Row<'a> {
    /// A row over raw column values as read back from a store. `Err` names the first column
    /// that is NULL though the table says `NOT NULL`.
    pub(crate) fn from_raw(raw: &'a [RawCell; 28]) -> Result<Self, &'static str> {
        let mut cells = [Cell::Int(0); 28];
        for ((cell, raw), c) in cells.iter_mut().zip(raw).zip(&COLUMNS) {
            *cell = match raw {
                RawCell::Int(i) => Cell::Int(*i),
                RawCell::Text(t) => Cell::Text(t.as_deref()),
            };
            if !c.nullable && *cell == Cell::Text(None) {
                return Err(c.name);
            }
        }
        Ok(Self(cells))
    }

    /// The text of column `i` (`""` when NULL or not text).
    pub(crate) fn text(&self, i: usize) -> &'a str {
        self.opt(i).unwrap_or("")
    }

    /// The text of column `i`, `None` when NULL.
    pub(crate) fn opt(&self, i: usize) -> Option<&'a str> {
        match self.0[i] {
            Cell::Text(t) => t,
            Cell::Int(_) => None,
        }
    }

    /// The canonical bytes (module docs).
    #[cfg(test)]
    pub(crate) fn canonical_bytes(&self) -> Vec<u8> {
        Canonical::new(self, false).bytes
    }

    /// `record_hash` for these fields.
    pub(crate) fn hash(&self) -> String {
        Canonical::new(self, false).hash(self)
    }
}

/// The canonical bytes of a row, built once; with `holes`, the values of the sealed columns are
/// left out, to be filled in by [`Canonical::hash`] from the sealed row.
#[derive(Debug, Default)]
struct Canonical {
    bytes: Vec<u8>,
    /// `(offset in bytes, column)` of every value left out.
    holes: Vec<(usize, usize)>,
}

fn put(out: &mut Vec<u8>, v: &impl Serialize) {
    // Serialising a string, an integer or null into a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, v);
}

impl Canonical {
    fn new(row: &Row<'_>, holes: bool) -> Self {
        let mut c = Self::default();
        c.bytes.push(b'{');
        for (i, col) in COLUMNS.iter().enumerate().filter(|(_, c)| c.hashed) {
            if c.bytes.len() > 1 {
                c.bytes.push(b',');
            }
            put(&mut c.bytes, &col.name);
            c.bytes.push(b':');
            if holes && col.sealed {
                c.holes.push((c.bytes.len(), i));
            } else {
                put(&mut c.bytes, &row.0[i]);
            }
        }
        c.bytes.push(b'}');
        c
    }

    /// SHA-256 over `prev_hash` and the canonical bytes, the holes filled from `row`.
    fn hash(&self, row: &Row<'_>) -> String {
        let mut h = Sha256::new();
        h.update(row.text(cols::PREV_HASH).as_bytes());
        let mut at = 0;
        let mut value = Vec::with_capacity(80);
        for &(offset, i) in &self.holes {
            h.update(&self.bytes[at..offset]);
            value.clear();
            put(&mut value, &row.0[i]);
            h.update(&value);
            at = offset;
        }
        h.update(&self.bytes[at..]);
        util::hex(&h.finalize())
    }
}

/// A validated record waiting in the writer queue: a [`StoredRecord`] whose place in the chain
/// (`seq`, `trail`, `prev_hash`, `record_hash`) is not assigned yet.
#[derive(Debug)]
pub(crate) struct Prepared {
    record: StoredRecord,
    /// The canonical bytes of everything but the chain position, computed on the caller's
    /// thread so the writer thread only fills in `seq`, `trail` and `prev_hash` and hashes.
    canonical: Canonical,
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
    pub(crate) fn new(
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
            AuditOutcome::Failure {
                error_class,
                message,
            } => AuditOutcome::Failure {
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
        Ok(Self::of(StoredRecord {
            schema_version: SCHEMA_VERSION,
            trail: String::new(),
            seq: 0,
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
            prev_hash: String::new(),
            record_hash: String::new(),
        }))
    }

    /// `record` (its chain position still unassigned) with its canonical bytes.
    fn of(record: StoredRecord) -> Self {
        let canonical = Canonical::new(&record.row(), true);
        Self { record, canonical }
    }

    /// Seals the record at `seq` after `prev_hash`.
    pub(crate) fn seal(self, trail: &str, seq: u64, prev_hash: &str) -> StoredRecord {
        let mut rec = self.record;
        rec.trail = trail.to_owned();
        rec.seq = seq;
        rec.prev_hash = prev_hash.to_owned();
        // Same bytes as `rec.row().canonical_bytes()`, the chain position filled in.
        rec.record_hash = self.canonical.hash(&rec.row());
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
        assert!(!p.canonical.holes.is_empty());
        let r = p.seal("trail-\"x", 1, GENESIS_HASH);
        assert_eq!(r.record_hash, r.row().hash(), "fast path = canonical view");
        let p = Prepared::new(
            NewRecord::new("user.suspend", "admin-1")
                .target("user-9")
                .outcome(AuditOutcome::failure("E", "multi\nline \u{1b} \"quoted\""))
                .changes(serde_json::json!({"b": 1, "a": 2}), serde_json::Value::Null),
            Origin::default(),
            None,
        )
        .unwrap();
        let r = p.seal("trail-x", 1, GENESIS_HASH);
        assert_eq!(r.record_hash, r.row().hash(), "fast path = canonical view");
        assert_eq!(r.category, "user");
        let bytes = String::from_utf8(r.row().canonical_bytes()).unwrap();
        assert!(bytes.starts_with("{\"seq\":1,\"schema_version\":1,\"trail\":\"trail-x\","));
        assert!(bytes.ends_with(&format!("\"prev_hash\":\"{GENESIS_HASH}\"}}")));
        assert_eq!(r.record_hash, r.row().hash());
        let mut m = r.clone();
        m.actor.push('x');
        assert_ne!(m.row().hash(), r.record_hash);
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
            p.record.changes.as_deref(),
            Some(r#"{"before":{"a":1},"after":null}"#)
        );
        let p = Prepared::new(bound.clone(), Origin::default(), None).unwrap();
        assert_eq!(
            p.record.changes.as_deref(),
            Some(
                r#"{"before":{"a":1},"after":null,"bound":{"job_id":"42","job_type":"shop\"ify"}}"#
            )
        );
        let r = p.seal("t", 1, GENESIS_HASH);
        assert_eq!(r.record_hash, r.row().hash(), "fast path = canonical view");
        bound.changes = None;
        let p = Prepared::new(bound, Origin::default(), None).unwrap();
        assert_eq!(
            p.record.changes.as_deref(),
            Some(r#"{"bound":{"job_id":"42","job_type":"shop\"ify"}}"#)
        );
        let p = Prepared::new(NewRecord::new("job.run", "w"), Origin::default(), None).unwrap();
        assert_eq!(p.record.changes, None);
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
        match AuditOutcome::from_result(&r) {
            AuditOutcome::Failure {
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
        let mut rec = Prepared::new(r, origin, attempt_id).unwrap().record;
        rec.id = "018f2d3c-4b5a-7c6d-8e9f-0a1b2c3d4e5f".into();
        rec.time = "2026-12-02T15:04:05.123456Z".into();
        Prepared::of(rec).seal(
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
            .outcome(AuditOutcome::failure(
                "AppError::NotFound",
                "no \"user\"\t9",
            ))
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
        let canonical = String::from_utf8(r.row().canonical_bytes()).unwrap();
        assert_eq!(canonical, FULL_CANONICAL);
        assert_eq!(r.record_hash, FULL_HASH);
        assert_eq!(r.row().hash(), FULL_HASH);
        let m = fixed(NewRecord::new("job.run", "worker"), None);
        assert_eq!(m.record_hash, MINIMAL_HASH);
        assert_eq!(m.row().hash(), MINIMAL_HASH);
    }
}
