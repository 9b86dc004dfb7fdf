//! Audit configuration: store URL, durability mode, checkpoints, signing key, fallback sink.

use super::error::AuditError;
use super::record::Origin;
use super::util;
use base64::Engine as _;
use std::fmt;
use std::path::PathBuf;

/// Default store when `OBSERVA_AUDIT_URL` is unset: a file in the working directory.
pub const DEFAULT_URL: &str = "sqlite:observa-audit.db";

/// Default number of records between two checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// Default upper bound of records committed in one group-commit transaction.
pub const DEFAULT_MAX_BATCH: usize = 1024;

/// When a record counts as written. Named in the URL as `?durability=durable|buffered` or in
/// `OBSERVA_AUDIT_DURABILITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The default. A record is acknowledged only after its transaction is committed and flushed
    /// to stable storage (SQLite WAL with `synchronous=FULL`; PostgreSQL with
    /// `synchronous_commit=on`). An acknowledged record survives `kill -9` of the process and a
    /// crash or power loss of the machine (as far as the disk honours fsync).
    #[default]
    Durable,
    /// Acknowledged once committed to the database but before the flush (SQLite
    /// `synchronous=NORMAL` in WAL mode; PostgreSQL `synchronous_commit=off`). Survives `kill -9`
    /// of the process; the last acknowledged records may be lost if the machine crashes. The
    /// hash chain stays intact either way.
    Buffered,
}

impl Durability {
    /// `"durable"` or `"buffered"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Durable => "durable",
            Self::Buffered => "buffered",
        }
    }

    /// Parses the names above.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "durable" => Some(Self::Durable),
            "buffered" => Some(Self::Buffered),
            _ => None,
        }
    }
}

/// Where records go when the store cannot take them under the `degrade_and_alert` policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FallbackSink {
    /// One JSON line per record on standard error (default).
    #[default]
    Stderr,
    /// One JSON line per record appended to this file (created with mode 0600, fsynced after each
    /// line); standard error when the file cannot be written either.
    File(PathBuf),
}

/// An Ed25519 signing key for checkpoints. Built from a 32-byte seed; `Debug` shows the public
/// key only.
#[derive(Clone)]
pub struct SigningKey(pub(crate) ed25519_dalek::SigningKey);

impl SigningKey {
    /// From a 32-byte seed given as 64 hex digits or as base64 (standard alphabet, padded).
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            util::unhex(text)
        } else {
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        };
        let seed: [u8; 32] = bytes
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| {
                AuditError::config(
                    "the audit signing key must be a 32-byte seed as 64 hex digits or base64",
                )
            })?;
        Ok(Self::from_seed(&seed))
    }

    /// From a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The public key as 64 hex digits (what `observa-audit verify --public-key` takes).
    pub fn public_key_hex(&self) -> String {
        util::hex(&self.0.verifying_key().to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

/// Configuration of an [`crate::audit::Auditor`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditConfig {
    /// Store URL: `sqlite:PATH` (also `sqlite://PATH`), or `postgres://…`/`postgresql://…` with
    /// the `postgres` feature. Query options: `durability=durable|buffered`,
    /// `checkpoint_every=N`, and for PostgreSQL `schema=NAME` (default `public`). A `?` ends the
    /// path of a SQLite URL.
    pub url: String,
    /// Durability mode; overridden by a `durability` URL option.
    pub durability: Durability,
    /// Records between two checkpoints (at least 1); overridden by a `checkpoint_every` URL
    /// option. A checkpoint is also written when the auditor closes.
    pub checkpoint_every: u64,
    /// Signs checkpoints when set.
    pub signing_key: Option<SigningKey>,
    /// Written into every record as its "where".
    pub origin: Origin,
    /// Fallback sink for `degrade_and_alert`.
    pub fallback: FallbackSink,
    /// Upper bound of records per group commit.
    pub max_batch: usize,
}

impl AuditConfig {
    /// A configuration for `url` with defaults: durable, checkpoint every 1000 records, no
    /// signing key, fallback to standard error; origin: the service name and version of the
    /// [`crate::Config`] given to [`crate::init`] (or [`crate::layer`]) when it ran, else
    /// `OBSERVA_SERVICE_NAME` / `OBSERVA_SERVICE_VERSION`; host from `HOSTNAME` or
    /// `/etc/hostname`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            durability: Durability::Durable,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            signing_key: None,
            origin: origin_from_env(),
            fallback: FallbackSink::Stderr,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    /// Reads the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `OBSERVA_AUDIT_URL` | store URL | [`DEFAULT_URL`] |
    /// | `OBSERVA_AUDIT_DURABILITY` | `durable` or `buffered` | `durable` |
    /// | `OBSERVA_AUDIT_CHECKPOINT_EVERY` | records between checkpoints | 1000 |
    /// | `OBSERVA_AUDIT_SIGNING_KEY` | Ed25519 seed, 64 hex digits or base64 | unsigned |
    /// | `OBSERVA_AUDIT_FALLBACK` | fallback JSONL file for `degrade_and_alert` | stderr |
    /// | `OBSERVA_SERVICE_NAME`, `OBSERVA_SERVICE_VERSION` | the record's service and version when [`crate::init`] has not run (after it: the `Config`'s) | unset |
    /// | `HOSTNAME` | the record's host (else `/etc/hostname`) | unset |
    ///
    /// A variable set to an unusable value is an error, never silently ignored.
    pub fn from_env() -> Result<Self, AuditError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut c = Self::new(var("OBSERVA_AUDIT_URL").unwrap_or_else(|| DEFAULT_URL.to_owned()));
        if let Some(d) = var("OBSERVA_AUDIT_DURABILITY") {
            c.durability = Durability::parse(d.trim()).ok_or_else(|| {
                AuditError::config("`OBSERVA_AUDIT_DURABILITY` must be `durable` or `buffered`")
            })?;
        }
        if let Some(n) = var("OBSERVA_AUDIT_CHECKPOINT_EVERY") {
            c.checkpoint_every = parse_checkpoint_every(n.trim())?;
        }
        if let Some(k) = var("OBSERVA_AUDIT_SIGNING_KEY") {
            c.signing_key = Some(SigningKey::parse(&k)?);
        }
        if let Some(p) = var("OBSERVA_AUDIT_FALLBACK") {
            c.fallback = FallbackSink::File(PathBuf::from(p));
        }
        Ok(c)
    }

    /// Sets the signing key.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Sets the checkpoint interval.
    pub fn with_checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoint_every = n;
        self
    }

    /// Sets the durability mode.
    pub fn with_durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Sets the fallback sink.
    pub fn with_fallback(mut self, f: FallbackSink) -> Self {
        self.fallback = f;
        self
    }

    /// Sets the origin (service, version, host).
    pub fn with_origin(mut self, o: Origin) -> Self {
        self.origin = o;
        self
    }
}

fn parse_checkpoint_every(s: &str) -> Result<u64, AuditError> {
    s.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
        AuditError::config("`checkpoint_every` must be a whole number of at least 1")
    })
}

/// The record's "where": the installed runtime's service name and version, else the
/// environment's.
fn origin_from_env() -> Origin {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let host = var("HOSTNAME").or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    match crate::runtime_info() {
        Some(rt) => Origin {
            service: Some(rt.service_name.clone()),
            version: Some(rt.service_version.clone()),
            host,
        },
        None => Origin {
            service: var("OBSERVA_SERVICE_NAME"),
            version: var("OBSERVA_SERVICE_VERSION"),
            host,
        },
    }
}

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        /// The URL without observa's own query options.
        conn: String,
        schema: String,
    },
}

/// Options found in a URL's query string.
#[derive(Debug, Default)]
pub(crate) struct UrlOptions {
    pub durability: Option<Durability>,
    pub checkpoint_every: Option<u64>,
}

impl StoreUrl {
    /// The store kind: `"sqlite"` or `"postgres"`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// Parses `url`, taking observa's query options out.
    pub(super) fn parse(url: &str) -> Result<(Self, UrlOptions), AuditError> {
        let url = url.trim();
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut opts = UrlOptions::default();
        let mut schema = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "durability" => {
                    opts.durability = Some(Durability::parse(v).ok_or_else(|| {
                        AuditError::config(
                            "URL option `durability` must be `durable` or `buffered`",
                        )
                    })?)
                }
                "checkpoint_every" => opts.checkpoint_every = Some(parse_checkpoint_every(v)?),
                "schema" => schema = Some(v.to_owned()),
                _ => rest.push(pair),
            }
        }
        if let Some(path) = base.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(AuditError::config(
                    "`sqlite:` URL needs a file path, for example `sqlite:observa-audit.db`",
                ));
            }
            if let Some(k) = rest.first().or(schema.as_ref().map(|_| &"schema")) {
                return Err(AuditError::config(format!(
                    "unknown option `{k}` in a sqlite audit URL; expected `durability`, `checkpoint_every`"
                )));
            }
            return Ok((
                Self::Sqlite {
                    path: PathBuf::from(path),
                },
                opts,
            ));
        }
        if base.starts_with("postgres://") || base.starts_with("postgresql://") {
            let schema = schema.unwrap_or_else(|| "public".to_owned());
            if !valid_identifier(&schema) {
                return Err(AuditError::config(
                    "URL option `schema` must be an identifier: letters, digits and `_`, not starting with a digit, at most 63 bytes",
                ));
            }
            let conn = if rest.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", rest.join("&"))
            };
            return Ok((Self::Postgres { conn, schema }, opts));
        }
        Err(AuditError::config(
            "unsupported audit store URL; expected `sqlite:PATH` or `postgres://…`",
        ))
    }
}

pub(crate) fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let (u, o) =
            StoreUrl::parse("sqlite:/tmp/a.db?durability=buffered&checkpoint_every=5").unwrap();
        assert_eq!(
            u,
            StoreUrl::Sqlite {
                path: "/tmp/a.db".into()
            }
        );
        assert_eq!(o.durability, Some(Durability::Buffered));
        assert_eq!(o.checkpoint_every, Some(5));
        let (u, _) = StoreUrl::parse("postgres://u@h:5432/db?schema=t_1&sslmode=disable").unwrap();
        assert_eq!(
            u,
            StoreUrl::Postgres {
                conn: "postgres://u@h:5432/db?sslmode=disable".into(),
                schema: "t_1".into()
            }
        );
        assert!(StoreUrl::parse("postgres://h/db?schema=a;drop").is_err());
        assert!(StoreUrl::parse("mysql://x").is_err());
        assert!(StoreUrl::parse("sqlite:").is_err());
        assert!(StoreUrl::parse("sqlite:a.db?checkpoint_every=0").is_err());
        assert!(StoreUrl::parse("sqlite:a.db?bogus=1").is_err());
    }

    #[test]
    fn parses_signing_keys() {
        let hex = "11".repeat(32);
        let k = SigningKey::parse(&hex).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode([0x11u8; 32]);
        assert_eq!(
            SigningKey::parse(&b64).unwrap().public_key_hex(),
            k.public_key_hex()
        );
        assert!(SigningKey::parse("abcd").is_err());
        assert!(!format!("{k:?}").contains(&hex));
    }
}
