//! Errors of the audit subsystem.

use std::error::Error as StdError;
use std::fmt;

/// What kind of failure an [`AuditError`] is. The failure policy of `#[audit]` acts on every kind
/// the same way; the kind is for alerting and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditErrorKind {
    /// The store cannot be reached or opened: missing directory, permission denied, database
    /// locked for too long, connection refused, writer thread gone.
    Unavailable,
    /// A write, a commit or an fsync failed (disk full, file size limit, I/O error). The record
    /// that got this error was not acknowledged; it may or may not be in the store.
    Io,
    /// The store holds something observa did not write or cannot read: not a database, a broken
    /// chain head, a sequence number that is already taken.
    Corrupt,
    /// The record itself was rejected before anything was written (empty `action` or `actor`).
    InvalidRecord,
    /// The configuration is unusable: an unknown URL scheme, a bad signing key, a bad option.
    Config,
    /// The auditor was shut down; nothing more can be appended through it.
    Closed,
    /// The store was written by a newer observa (schema version), or the URL needs a cargo feature
    /// this build does not have (for example `postgres`).
    Unsupported,
}

impl AuditErrorKind {
    /// A stable lowercase name, used in log lines and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Io => "io",
            Self::Corrupt => "corrupt",
            Self::InvalidRecord => "invalid_record",
            Self::Config => "config",
            Self::Closed => "closed",
            Self::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for AuditErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An audit record could not be written (or a trail could not be opened).
///
/// `#[audit]` functions with the default `fail_closed` policy return it through
/// `From<observa::audit::AuditError>` for their own error type. It is `Clone` because one failed
/// group commit is reported to every caller of the batch.
#[derive(Clone)]
pub struct AuditError {
    kind: AuditErrorKind,
    message: String,
    source: Option<std::sync::Arc<dyn StdError + Send + Sync + 'static>>,
}

impl AuditError {
    /// A new error of `kind` with a human-readable message (lowercase, no trailing period).
    pub fn new(kind: AuditErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> AuditErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn closed() -> Self {
        Self::new(
            AuditErrorKind::Closed,
            "the audit writer has stopped; the record was not written",
        )
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(AuditErrorKind::Config, message)
    }
}

impl fmt::Debug for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit {}: {}", self.kind, self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for AuditError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<rusqlite::Error> for AuditError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let kind = match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::CannotOpen
                | C::PermissionDenied
                | C::ReadOnly
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::NotFound => AuditErrorKind::Unavailable,
                C::DatabaseCorrupt | C::NotADatabase | C::ConstraintViolation => {
                    AuditErrorKind::Corrupt
                }
                _ => AuditErrorKind::Io,
            },
            rusqlite::Error::InvalidPath(_) => AuditErrorKind::Config,
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => AuditErrorKind::Corrupt,
            _ => AuditErrorKind::Io,
        };
        AuditError::new(kind, "sqlite").with_source(e)
    }
}

#[cfg(feature = "postgres")]
impl From<postgres::Error> for AuditError {
    fn from(e: postgres::Error) -> Self {
        let kind = if e.is_closed() {
            AuditErrorKind::Unavailable
        } else if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            if code.starts_with("08") || code.starts_with("57") || code.starts_with("53") {
                // connection exception, operator intervention, insufficient resources
                if code == "53100" {
                    AuditErrorKind::Io // disk full
                } else {
                    AuditErrorKind::Unavailable
                }
            } else if code.starts_with("23") || code.starts_with("XX") {
                AuditErrorKind::Corrupt
            } else if code.starts_with("58") {
                AuditErrorKind::Io
            } else {
                AuditErrorKind::Unavailable
            }
        } else {
            AuditErrorKind::Unavailable
        };
        AuditError::new(kind, "postgres").with_source(e)
    }
}
