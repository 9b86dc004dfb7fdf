//! Verification of a stored trail: every record re-hashed, every link and sequence number checked,
//! every checkpoint matched (and its signature checked) against the chain.
//!
//! What is detected, and how it is reported (always the *first* bad sequence number):
//!
//! | tampering | finding |
//! |---|---|
//! | any field of a record changed (including `seq`, `prev_hash`, `record_hash`) | [`Problem::Modified`] or [`Problem::Malformed`] |
//! | a record deleted | [`Problem::Gap`] |
//! | a record inserted (with a fresh valid hash) or records reordered | [`Problem::ChainBroken`] / [`Problem::Modified`] |
//! | a record duplicated | [`Problem::Duplicate`] |
//! | records spliced in from another trail | [`Problem::ForeignTrail`] |
//! | the tail cut off after a checkpoint | [`Problem::Truncated`] |
//! | the chain rewritten from some point on with recomputed hashes | [`Problem::CheckpointMismatch`] (signed checkpoints make the rewrite impossible to hide) |
//! | the same, with the checkpoints from that point on deleted | [`Problem::CheckpointMissing`] |
//! | a checkpoint forged or altered | [`Problem::CheckpointSignature`] / [`Problem::UntrustedCheckpoint`] |
//! | with a witness: the tail cut together with its checkpoints | [`Problem::Truncated`] (`external`) |
//! | with a witness: the trail rewritten and re-signed by someone holding the key, or replaced | [`Problem::CheckpointMismatch`] (`external`) / [`Problem::ForeignTrail`] |
//!
//! **Due checkpoints.** Every writer declares its interval in its `audit.started` record
//! (`changes.after.checkpoint_every`) and writes a checkpoint in the same transaction as every
//! record whose number is a multiple of it, and after its `audit.stopped` record. The verifier
//! follows the writers through the chain (started, identified by host and pid, until stopped) and
//! requires a checkpoint at every number that all running writers' intervals divide, and after
//! every `audit.stopped`: a missing one is a finding. Callers cannot write these two actions.
//!
//! **Witness.** Every checkpoint is also a log line, event `audit.checkpoint`, whose message
//! carries it in full ([`WitnessCheckpoint`]): it leaves the host with the logs. Give the verifier
//! a log file ([`VerifyOptions::witness_file`], `observa-audit verify --witness FILE`) and every
//! witnessed checkpoint of this trail must match the chain, the trail must reach the last one, and
//! a store that no witness line names is a finding.
//!
//! Limits, stated plainly: without a witness, someone who can write the store and rewrites it from
//! the first record (or cuts the tail with every checkpoint after the cut, leaving what looks like
//! a crashed writer) is only caught by a checkpoint kept elsewhere: the witness lines, or one
//! passed as [`VerifyOptions::expect`] (`--expect COUNT:HASH`). Pin the signing key
//! ([`VerifyOptions::trusted_key`]) so rewritten checkpoints cannot be re-signed without it; a
//! witness still catches a rewrite by someone holding the key, up to the last line shipped.

use super::config::StoreUrl;
use super::error::{AuditError, AuditErrorKind};
use super::record::{GENESIS_HASH, Row, SCHEMA_VERSION, cols};
use super::store::TrailReader;
use super::store::read::RawCheckpoint;
use super::util;
use super::writer::checkpoint_message;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Options of [`verify_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Ed25519 public key (64 hex digits) that must have signed every checkpoint. Without it,
    /// signatures are checked against the key stored with each checkpoint, which proves
    /// integrity of the checkpoint but not who wrote it.
    pub trusted_key: Option<String>,
    /// A checkpoint kept outside the store, `(count, head_hash)`: record `count` must exist and
    /// hash to `head_hash`.
    pub expect: Option<(u64, String)>,
    /// Checkpoints read from `audit.checkpoint` log lines ([`VerifyOptions::witness_file`]): each
    /// one of this trail must match the chain, and none may lie beyond its end.
    pub witness: Vec<WitnessCheckpoint>,
}

impl VerifyOptions {
    /// Pins the signing key.
    pub fn trusted_key(mut self, public_key_hex: impl Into<String>) -> Self {
        self.trusted_key = Some(public_key_hex.into());
        self
    }

    /// Adds an external checkpoint.
    pub fn expect(mut self, count: u64, head_hash: impl Into<String>) -> Self {
        self.expect = Some((count, head_hash.into()));
        self
    }

    /// Adds witness checkpoints (see [`WitnessCheckpoint::parse_line`]).
    pub fn witness(mut self, checkpoints: impl IntoIterator<Item = WitnessCheckpoint>) -> Self {
        self.witness.extend(checkpoints);
        self
    }

    /// Adds every `audit.checkpoint` line of the log file at `path` (JSONL or console format;
    /// other lines are skipped). An error when the file cannot be read or holds no such line.
    pub fn witness_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, AuditError> {
        use std::io::BufRead as _;
        let path = path.as_ref();
        let unreadable = |e: std::io::Error| {
            AuditError::new(
                AuditErrorKind::Unavailable,
                format!("cannot read the witness file `{}`", path.display()),
            )
            .with_source(e)
        };
        // Line by line: a log file can be far larger than memory.
        let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(unreadable)?);
        let mut found = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(unreadable)? == 0 {
                break;
            }
            if let Some(c) = WitnessCheckpoint::parse_line(&String::from_utf8_lossy(&line)) {
                found.push(c);
            }
        }
        if found.is_empty() {
            return Err(AuditError::config(format!(
                "the witness file `{}` holds no `audit.checkpoint` line",
                path.display()
            )));
        }
        Ok(self.witness(found))
    }
}

/// `text` without ANSI escape sequences (colours of a console log).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            // Parameters and intermediates, then one final byte in `@`..=`~`.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The marker that starts the message of every `audit.checkpoint` log line.
pub(crate) const WITNESS_TAG: &str = "observa-audit-checkpoint/v1";

/// A checkpoint as carried by an `audit.checkpoint` log line: the witness that leaves the host
/// with the logs.
///
/// The line's message is `observa-audit-checkpoint/v1 TRAIL COUNT HEAD_HASH CREATED_AT
/// PUBLIC_KEY SIGNATURE` (positional, `-` for an unsigned checkpoint): plain words that no log
/// pipeline filter masks, in every environment including production's allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WitnessCheckpoint {
    /// Trail id.
    pub trail: String,
    /// Records covered.
    pub count: u64,
    /// `record_hash` of record `count`.
    pub head_hash: String,
    /// When the checkpoint was made (part of the signed message).
    pub created_at: String,
    /// Ed25519 public key, 64 hex digits, when signed.
    pub public_key: Option<String>,
    /// Ed25519 signature, 128 hex digits, when signed.
    pub signature: Option<String>,
}

impl WitnessCheckpoint {
    /// The message text of the log line.
    pub(crate) fn message(
        trail: &str,
        count: u64,
        head_hash: &str,
        created_at: &str,
        public_key: Option<&str>,
        signature: Option<&str>,
    ) -> String {
        format!(
            "{WITNESS_TAG} {trail} {count} {head_hash} {created_at} {} {}",
            public_key.unwrap_or("-"),
            signature.unwrap_or("-")
        )
    }

    /// Reads one log line: a JSON object whose `message` carries the checkpoint, or a console
    /// line containing it. `None` for any other line.
    pub fn parse_line(line: &str) -> Option<Self> {
        let plain;
        let line = if line.contains('\u{1b}') {
            plain = strip_ansi(line);
            plain.trim()
        } else {
            line.trim()
        };
        let json_message;
        let text = if line.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            json_message = v.get("message")?.as_str()?.to_owned();
            json_message.as_str()
        } else {
            line
        };
        let at = text.find(WITNESS_TAG)?;
        let mut words = text[at + WITNESS_TAG.len()..].split_ascii_whitespace();
        let trail = words.next()?.to_owned();
        let count = words.next()?.parse::<u64>().ok().filter(|c| *c >= 1)?;
        let head_hash = words.next()?.to_owned();
        let created_at = words.next()?.to_owned();
        let opt = |w: Option<&str>| -> Option<Option<String>> {
            match w? {
                "-" => Some(None),
                v => Some(Some(v.to_owned())),
            }
        };
        let public_key = opt(words.next())?;
        let signature = opt(words.next())?;
        if !util::is_hash_hex(&head_hash) {
            return None;
        }
        Some(Self {
            trail,
            count,
            head_hash,
            created_at,
            public_key,
            signature,
        })
    }
}

/// Summary of an intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// `"sqlite"` or `"postgres"`.
    pub store: &'static str,
    /// Trail id (`None` for an empty trail).
    pub trail: Option<String>,
    /// Number of records (= the head's sequence number).
    pub records: u64,
    /// `record_hash` of the last record ([`GENESIS_HASH`] for an empty trail).
    pub head_hash: String,
    /// Checkpoints found and matched.
    pub checkpoints: u64,
    /// Of those, how many carry a valid Ed25519 signature.
    pub signed_checkpoints: u64,
    /// Witness checkpoints ([`VerifyOptions::witness`]) of this trail matched against the chain.
    pub witnessed: u64,
    /// Public keys (hex) that signed checkpoints.
    pub signing_keys: Vec<String>,
    /// Time of the first and the last record.
    pub first_time: Option<String>,
    /// Time of the last record.
    pub last_time: Option<String>,
    /// Whether the last record is `audit.stopped` (the writer closed cleanly). `false` after a
    /// crash, which is not tampering.
    pub clean_shutdown: bool,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "intact: {} records in trail {} ({} store), head {}; {} checkpoints ({} signed)",
            self.records,
            self.trail.as_deref().unwrap_or("-").escape_debug(),
            self.store,
            self.head_hash,
            self.checkpoints,
            self.signed_checkpoints,
        )?;
        if self.witnessed > 0 {
            write!(f, "; {} witness checkpoints matched", self.witnessed)?;
        }
        if let (Some(a), Some(b)) = (&self.first_time, &self.last_time) {
            // Stored text: escaped, so a tampered value cannot drive the terminal.
            write!(f, "; from {} to {}", a.escape_debug(), b.escape_debug())?;
        }
        if !self.clean_shutdown && self.records > 0 {
            f.write_str("; last writer did not stop cleanly (crash or still running)")?;
        }
        Ok(())
    }
}

/// What is wrong at the reported sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The record's content does not hash to its `record_hash`: a field was changed.
    Modified {
        /// The stored `record_hash`.
        stored: String,
        /// The hash of the stored content.
        computed: String,
    },
    /// `prev_hash` is not the previous record's `record_hash`: a record was inserted, removed
    /// and renumbered, or records were reordered.
    ChainBroken {
        /// The previous record's hash.
        expected: String,
        /// The `prev_hash` found.
        found: String,
    },
    /// Sequence numbers `from..=to` are missing: records were deleted.
    Gap {
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// The sequence number appears more than once: a record was duplicated.
    Duplicate,
    /// The record carries another trail's id: spliced in from another trail.
    ForeignTrail {
        /// This trail's id.
        expected: String,
        /// The id found.
        found: String,
    },
    /// A column holds something observa never writes (NULL where required, wrong type, a hash
    /// that is not 64 hex digits, a non-positive sequence number).
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The record has a schema version this build does not know.
    UnsupportedSchema {
        /// The version found.
        version: i64,
    },
    /// A checkpoint names a different head hash than the chain has at its count: the chain was
    /// rewritten (or the checkpoint altered).
    CheckpointMismatch {
        /// Records covered by the checkpoint.
        count: u64,
        /// Hash in the checkpoint.
        checkpoint_hash: String,
        /// Hash of record `count`.
        record_hash: String,
        /// Whether the checkpoint came from [`VerifyOptions::expect`] or a witness.
        external: bool,
    },
    /// A checkpoint covers more records than the trail holds: the tail was cut off.
    Truncated {
        /// Records covered by the checkpoint.
        checkpoint_count: u64,
        /// Last sequence number present.
        last_seq: u64,
        /// Whether the checkpoint came from [`VerifyOptions::expect`] or a witness.
        external: bool,
    },
    /// No checkpoint where one is due: at a multiple of the interval that every running writer
    /// declared in its `audit.started` record, or after an `audit.stopped` record. Checkpoints
    /// were deleted, typically to hide a rewritten suffix.
    CheckpointMissing {
        /// Records the missing checkpoint would cover.
        count: u64,
        /// Why one is due: the interval, or `None` after `audit.stopped`.
        every: Option<u64>,
    },
    /// A checkpoint's signature or key is malformed or does not verify.
    CheckpointSignature {
        /// Records covered by the checkpoint.
        count: u64,
        /// What is wrong.
        detail: String,
    },
    /// A checkpoint is unsigned or signed by another key than [`VerifyOptions::trusted_key`].
    UntrustedCheckpoint {
        /// Records covered by the checkpoint.
        count: u64,
    },
}

impl Problem {
    /// A stable snake_case name for scripts and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Modified { .. } => "modified",
            Self::ChainBroken { .. } => "chain_broken",
            Self::Gap { .. } => "gap",
            Self::Duplicate => "duplicate",
            Self::ForeignTrail { .. } => "foreign_trail",
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedSchema { .. } => "unsupported_schema",
            Self::CheckpointMismatch { .. } => "checkpoint_mismatch",
            Self::Truncated { .. } => "truncated",
            Self::CheckpointMissing { .. } => "checkpoint_missing",
            Self::CheckpointSignature { .. } => "checkpoint_signature",
            Self::UntrustedCheckpoint { .. } => "untrusted_checkpoint",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Modified { stored, computed } => write!(
                f,
                "record modified: its content hashes to {computed}, not to its record_hash {stored}"
            ),
            Self::ChainBroken { expected, found } => write!(
                f,
                "chain broken: prev_hash is {found} but the previous record's hash is {expected} (record inserted, removed or reordered)"
            ),
            Self::Gap { from, to } if from == to => {
                write!(f, "record {from} is missing (deleted)")
            }
            Self::Gap { from, to } => write!(f, "records {from} to {to} are missing (deleted)"),
            Self::Duplicate => f.write_str("sequence number appears twice (duplicated record)"),
            Self::ForeignTrail { expected, found } => write!(
                f,
                "record belongs to trail {}, not {} (spliced from another trail)",
                found.escape_debug(),
                expected.escape_debug()
            ),
            Self::Malformed { detail } => write!(f, "malformed record: {}", detail.escape_debug()),
            Self::UnsupportedSchema { version } => write!(
                f,
                "unknown schema version {version} (this build reads {SCHEMA_VERSION})"
            ),
            Self::CheckpointMismatch {
                count,
                checkpoint_hash,
                record_hash,
                external,
            } => write!(
                f,
                "{} checkpoint at {count} records names head {} but record {count} hashes to {record_hash} (chain rewritten)",
                if *external { "expected" } else { "stored" },
                checkpoint_hash.escape_debug()
            ),
            Self::Truncated {
                checkpoint_count,
                last_seq,
                external,
            } => write!(
                f,
                "trail truncated: it ends at record {last_seq} but a{} checkpoint covers {checkpoint_count} records",
                if *external { "n expected" } else { " stored" }
            ),
            Self::CheckpointMissing {
                count,
                every: Some(every),
            } => write!(
                f,
                "no checkpoint at {count} records, where the writers' interval of {every} makes one due (checkpoints deleted)"
            ),
            Self::CheckpointMissing { count, every: None } => write!(
                f,
                "no checkpoint at {count} records, where `audit.stopped` makes one due (checkpoints deleted)"
            ),
            Self::CheckpointSignature { count, detail } => {
                write!(f, "checkpoint at {count} records: {detail}")
            }
            Self::UntrustedCheckpoint { count } => write!(
                f,
                "checkpoint at {count} records is not signed by the trusted key"
            ),
        }
    }
}

/// Where a trail first goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The first bad sequence number.
    pub seq: u64,
    /// What is wrong there.
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "first bad record {}: {}", self.seq, self.problem)
    }
}

/// Why [`verify`] did not confirm a trail.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum VerifyError {
    /// The trail was tampered with (or damaged).
    Tampered(Finding),
    /// The trail could not be read at all (no such file, connection refused, not a trail).
    Unreadable(AuditError),
}

impl VerifyError {
    /// The finding, when the trail was read and found bad.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            Self::Tampered(f) => Some(f),
            Self::Unreadable(_) => None,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tampered(x) => write!(f, "audit trail NOT intact: {x}"),
            Self::Unreadable(e) => write!(f, "audit trail unreadable: {e}"),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Tampered(_) => None,
            Self::Unreadable(e) => Some(e),
        }
    }
}

impl From<AuditError> for VerifyError {
    fn from(e: AuditError) -> Self {
        Self::Unreadable(e)
    }
}

/// Verifies the trail at `url` (same URL forms as `OBSERVA_AUDIT_URL`). Reads one consistent
/// snapshot; safe while writers are running.
pub fn verify(url: &str) -> Result<VerifyReport, VerifyError> {
    verify_with(url, &VerifyOptions::default())
}

/// [`verify`] with a pinned signing key and/or an external checkpoint.
pub fn verify_with(url: &str, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let (store, _) = StoreUrl::parse(url)?;
    let opts = opts.clone();
    super::store::read(store, move |r, backend| check(r, &opts, backend))
}

fn min_finding(a: Option<Finding>, b: Finding) -> Option<Finding> {
    match a {
        Some(a) if a.seq <= b.seq => Some(a),
        _ => Some(b),
    }
}

struct Cp {
    raw: RawCheckpoint,
    signed: bool,
}

fn check_signature(c: &RawCheckpoint, count: u64, trusted: Option<&str>) -> Result<bool, Problem> {
    use ed25519_dalek::{Signature, VerifyingKey};
    let bad = |detail: &str| Problem::CheckpointSignature {
        count,
        detail: detail.to_owned(),
    };
    let signed = match (&c.public_key, &c.signature) {
        (None, None) => false,
        (Some(pk), Some(sig)) => {
            let pk: [u8; 32] = util::unhex(pk)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("public key is not 32 bytes of hex"))?;
            let sig: [u8; 64] = util::unhex(sig)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("signature is not 64 bytes of hex"))?;
            let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("invalid public key"))?;
            let msg = checkpoint_message(&c.trail, count, &c.head_hash, &c.created_at);
            key.verify_strict(&msg, &Signature::from_bytes(&sig))
                .map_err(|_| bad("signature does not verify (checkpoint forged or altered)"))?;
            true
        }
        _ => return Err(bad("signature without key or key without signature")),
    };
    if let Some(t) = trusted
        && (!signed
            || !c
                .public_key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(t)))
    {
        return Err(Problem::UntrustedCheckpoint { count });
    }
    Ok(signed)
}

/// A witness line's signature, when it carries one, must verify (a forged line is reported, not
/// trusted). Unsigned lines count as they are: their strength is that they left the host.
fn check_witness_signature(w: &WitnessCheckpoint) -> Result<(), Problem> {
    let raw = RawCheckpoint {
        count: i64::try_from(w.count).unwrap_or(i64::MAX),
        trail: w.trail.clone(),
        head_hash: w.head_hash.clone(),
        created_at: w.created_at.clone(),
        public_key: w.public_key.clone(),
        signature: w.signature.clone(),
    };
    check_signature(&raw, w.count, None)
        .map(|_| ())
        .map_err(|p| match p {
            Problem::CheckpointSignature { count, detail } => Problem::CheckpointSignature {
                count,
                detail: format!("witness line: {detail}"),
            },
            other => other,
        })
}

/// What an `audit.started` / `audit.stopped` record says about its writer.
#[derive(Debug)]
struct Lifecycle {
    host: Option<String>,
    pid: Option<u64>,
    /// `checkpoint_every` (started records).
    every: Option<u64>,
    /// The id of the writer's started record (stopped records written by this version on).
    started_id: Option<String>,
}

fn lifecycle(view: &Row<'_>) -> Lifecycle {
    let after = view
        .opt(cols::CHANGES)
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|mut v| v.get_mut("after").map(serde_json::Value::take));
    let field = |k: &str| after.as_ref().and_then(|a| a.get(k));
    Lifecycle {
        host: view.opt(cols::HOST).map(str::to_owned),
        pid: field("pid").and_then(|v| v.as_u64()),
        every: field("checkpoint_every").and_then(|v| v.as_u64()),
        started_id: field("started_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    }
}

pub(crate) fn check(
    reader: &mut dyn TrailReader,
    opts: &VerifyOptions,
    store: &'static str,
) -> Result<VerifyReport, VerifyError> {
    let mut first: Option<Finding> = None;
    let trusted = opts.trusted_key.as_deref().map(str::trim);
    if let Some(t) = trusted
        && util::unhex(t).is_none_or(|b| b.len() != 32)
    {
        return Err(VerifyError::Unreadable(AuditError::config(
            "the trusted public key must be 64 hex digits",
        )));
    }

    // Checkpoints first (a handful of rows): parse and check signatures.
    let mut cps: BTreeMap<u64, Cp> = BTreeMap::new();
    for c in reader.checkpoints()? {
        match c {
            Err(e) => {
                let seq = e
                    .seq
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(1)
                    .max(1);
                first = min_finding(
                    first,
                    Finding {
                        seq,
                        problem: Problem::Malformed {
                            detail: format!("checkpoint: {}", e.detail),
                        },
                    },
                );
            }
            Ok(raw) => {
                let Some(count) = u64::try_from(raw.count).ok().filter(|c| *c >= 1) else {
                    first = min_finding(
                        first,
                        Finding {
                            seq: 1,
                            problem: Problem::Malformed {
                                detail: format!("checkpoint count {} is not positive", raw.count),
                            },
                        },
                    );
                    continue;
                };
                match check_signature(&raw, count, trusted) {
                    Ok(signed) => {
                        cps.insert(count, Cp { raw, signed });
                    }
                    Err(problem) => {
                        first = min_finding(
                            first,
                            Finding {
                                seq: count,
                                problem,
                            },
                        )
                    }
                }
            }
        }
    }
    let expect = opts.expect.clone();
    let mut witness: BTreeMap<u64, Vec<&WitnessCheckpoint>> = BTreeMap::new();
    for w in &opts.witness {
        witness.entry(w.count).or_default().push(w);
    }
    let mut witnessed = 0u64;
    // Writers that have started and not stopped, by the id of their `audit.started` record, with
    // their host and pid and their checkpoint interval (0: unknown, which makes no periodic
    // checkpoint due while that writer runs).
    let mut writers: BTreeMap<String, (Lifecycle, u64)> = BTreeMap::new();

    let mut expected_seq: u64 = 1;
    let mut prev = GENESIS_HASH.to_owned();
    let mut trail: Option<String> = None;
    let mut stream: Option<Finding> = None;
    let mut first_time = None;
    let mut last_time = None;
    let mut last_action = String::new();
    let mut matched = 0u64;
    let mut signed = 0u64;
    let mut keys = BTreeSet::new();
    // Nothing past the earliest finding so far matters.
    let limit = first.as_ref().map(|f| f.seq);

    reader.scan(&mut |item| {
        let stop = |stream: &mut Option<Finding>, seq: u64, problem: Problem| {
            *stream = Some(Finding { seq, problem });
            false
        };
        if limit.is_some_and(|l| expected_seq > l) {
            return false;
        }
        let row = match item {
            Ok(r) => r,
            Err(e) => {
                let seq = e
                    .seq
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s >= 1)
                    .unwrap_or(expected_seq);
                return stop(
                    &mut stream,
                    seq.min(expected_seq),
                    Problem::Malformed { detail: e.detail },
                );
            }
        };
        let Some(seq) = u64::try_from(row.int(cols::SEQ)).ok().filter(|s| *s >= 1) else {
            return stop(
                &mut stream,
                expected_seq,
                Problem::Malformed {
                    detail: format!("sequence number {} is not positive", row.int(cols::SEQ)),
                },
            );
        };
        if seq < expected_seq {
            // Rows come sorted by seq, so this is the previous number again.
            return stop(&mut stream, seq, Problem::Duplicate);
        }
        if seq > expected_seq {
            return stop(
                &mut stream,
                expected_seq,
                Problem::Gap {
                    from: expected_seq,
                    to: seq - 1,
                },
            );
        }
        if row.int(cols::SCHEMA_VERSION) != i64::from(SCHEMA_VERSION) {
            return stop(
                &mut stream,
                seq,
                Problem::UnsupportedSchema {
                    version: row.int(cols::SCHEMA_VERSION),
                },
            );
        }
        let view = match Row::from_raw(&row.0) {
            Ok(v) => v,
            Err(col) => {
                return stop(
                    &mut stream,
                    seq,
                    Problem::Malformed {
                        detail: format!("required column `{col}` is NULL"),
                    },
                );
            }
        };
        let stored_hash = view.text(cols::RECORD_HASH);
        match &trail {
            None => trail = Some(view.text(cols::TRAIL).to_owned()),
            Some(t) if t != view.text(cols::TRAIL) => {
                return stop(
                    &mut stream,
                    seq,
                    Problem::ForeignTrail {
                        expected: t.clone(),
                        found: view.text(cols::TRAIL).to_owned(),
                    },
                );
            }
            Some(_) => {}
        }
        if !util::is_hash_hex(stored_hash) || !util::is_hash_hex(view.text(cols::PREV_HASH)) {
            return stop(
                &mut stream,
                seq,
                Problem::Malformed {
                    detail: "record_hash or prev_hash is not 64 lowercase hex digits".to_owned(),
                },
            );
        }
        let computed = view.hash();
        if computed != stored_hash {
            return stop(
                &mut stream,
                seq,
                Problem::Modified {
                    stored: stored_hash.to_owned(),
                    computed,
                },
            );
        }
        if view.text(cols::PREV_HASH) != prev {
            return stop(
                &mut stream,
                seq,
                Problem::ChainBroken {
                    expected: prev.clone(),
                    found: view.text(cols::PREV_HASH).to_owned(),
                },
            );
        }
        if let Some(cp) = cps.get(&seq) {
            if Some(&cp.raw.trail) != trail.as_ref() {
                return stop(
                    &mut stream,
                    seq,
                    Problem::ForeignTrail {
                        expected: trail.clone().unwrap_or_default(),
                        found: format!("{} (checkpoint)", cp.raw.trail),
                    },
                );
            }
            if cp.raw.head_hash != stored_hash {
                return stop(
                    &mut stream,
                    seq,
                    Problem::CheckpointMismatch {
                        count: seq,
                        checkpoint_hash: cp.raw.head_hash.clone(),
                        record_hash: stored_hash.to_owned(),
                        external: false,
                    },
                );
            }
            matched += 1;
            if cp.signed {
                signed += 1;
                if let Some(k) = &cp.raw.public_key {
                    keys.insert(k.clone());
                }
            }
        }
        for w in witness.get(&seq).into_iter().flatten() {
            if Some(&w.trail) != trail.as_ref() {
                continue;
            }
            if let Err(problem) = check_witness_signature(w) {
                return stop(&mut stream, seq, problem);
            }
            if w.head_hash != stored_hash {
                return stop(
                    &mut stream,
                    seq,
                    Problem::CheckpointMismatch {
                        count: seq,
                        checkpoint_hash: w.head_hash.clone(),
                        record_hash: stored_hash.to_owned(),
                        external: true,
                    },
                );
            }
            witnessed += 1;
        }
        // Checkpoints due here: the writer that sealed this record wrote one in the same
        // transaction.
        let system = view.text(cols::ACTOR) == super::SYSTEM_ACTOR;
        let stopped = system && view.text(cols::ACTION) == super::ACTION_STOPPED;
        if system && view.text(cols::ACTION) == super::ACTION_STARTED {
            let l = lifecycle(&view);
            let every = l.every.unwrap_or(0);
            writers.insert(view.text(cols::ID).to_owned(), (l, every));
        }
        let due = if stopped {
            Some(None)
        } else if !writers.is_empty() && writers.values().all(|(_, e)| *e > 0 && seq % e == 0) {
            Some(writers.values().map(|(_, e)| *e).max())
        } else {
            None
        };
        if let Some(every) = due
            && !cps.contains_key(&seq)
        {
            return stop(
                &mut stream,
                seq,
                Problem::CheckpointMissing { count: seq, every },
            );
        }
        if stopped {
            let l = lifecycle(&view);
            // Named by its started record; older trails: the first writer of that host and pid.
            let key = l.started_id.clone().or_else(|| {
                writers
                    .iter()
                    .find(|(_, (w, _))| w.host == l.host && w.pid == l.pid)
                    .map(|(k, _)| k.clone())
            });
            if let Some(k) = key {
                writers.remove(&k);
            }
        }
        if let Some((count, hash)) = &expect
            && *count == seq
            && hash.trim() != stored_hash
        {
            return stop(
                &mut stream,
                seq,
                Problem::CheckpointMismatch {
                    count: seq,
                    checkpoint_hash: hash.clone(),
                    record_hash: stored_hash.to_owned(),
                    external: true,
                },
            );
        }
        if first_time.is_none() {
            first_time = Some(view.text(cols::RECORDED_AT).to_owned());
        }
        last_time = Some(view.text(cols::RECORDED_AT).to_owned());
        last_action.clear();
        last_action.push_str(view.text(cols::ACTION));
        prev = stored_hash.to_owned();
        expected_seq += 1;
        true
    })?;

    if let Some(f) = stream {
        first = min_finding(first, f);
    } else {
        let last = expected_seq - 1;
        if let Some((&count, _)) = cps.range(last + 1..).next() {
            first = min_finding(
                first,
                Finding {
                    seq: last + 1,
                    problem: Problem::Truncated {
                        checkpoint_count: count,
                        last_seq: last,
                        external: false,
                    },
                },
            );
        }
        // Witness lines of this trail beyond its end; or none of this trail at all.
        let ours = |w: &&&WitnessCheckpoint| Some(&w.trail) == trail.as_ref();
        if let Some(w) = witness
            .values()
            .flatten()
            .filter(ours)
            .find(|w| w.count > last)
        {
            let problem = match check_witness_signature(w) {
                Err(p) => p,
                Ok(()) => Problem::Truncated {
                    checkpoint_count: w.count,
                    last_seq: last,
                    external: true,
                },
            };
            first = min_finding(
                first,
                Finding {
                    seq: last + 1,
                    problem,
                },
            );
        }
        if !witness.is_empty() && !witness.values().flatten().any(|w| ours(&w)) {
            let named: BTreeSet<&str> = witness
                .values()
                .flatten()
                .map(|w| w.trail.as_str())
                .collect();
            let problem = match &trail {
                // An empty store: every witnessed record is gone.
                None => Problem::Truncated {
                    checkpoint_count: witness.keys().next_back().copied().unwrap_or(1),
                    last_seq: 0,
                    external: true,
                },
                Some(t) => Problem::ForeignTrail {
                    expected: named.into_iter().collect::<Vec<_>>().join(", "),
                    found: format!("{t} (no witness line names this trail)"),
                },
            };
            first = min_finding(first, Finding { seq: 1, problem });
        }
        if let Some((count, _)) = &expect
            && *count > last
        {
            first = min_finding(
                first,
                Finding {
                    seq: last + 1,
                    problem: Problem::Truncated {
                        checkpoint_count: *count,
                        last_seq: last,
                        external: true,
                    },
                },
            );
        }
    }
    if let Some(f) = first {
        return Err(VerifyError::Tampered(f));
    }
    let records = expected_seq - 1;
    Ok(VerifyReport {
        store,
        trail,
        records,
        head_hash: prev,
        checkpoints: matched,
        signed_checkpoints: signed,
        witnessed,
        signing_keys: keys.into_iter().collect(),
        first_time,
        last_time,
        clean_shutdown: last_action == super::ACTION_STOPPED,
    })
}
