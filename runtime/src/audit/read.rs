//! The read side of both stores, behind one trait: what the verifier sees of a trail, and the
//! one place that opens a reader for a store URL.

use super::config::StoreUrl;
use super::error::{AuditError, AuditErrorKind};

/// One record row as read back, before any interpretation.
#[derive(Debug)]
pub(crate) struct RawRow {
    pub seq: i64,
    pub schema_version: i64,
    pub text: [Option<String>; 26],
}

/// One checkpoint row as read back.
#[derive(Debug, Clone)]
pub(crate) struct RawCheckpoint {
    pub count: i64,
    pub trail: String,
    pub head_hash: String,
    pub created_at: String,
    pub public_key: Option<String>,
    pub signature: Option<String>,
}

/// A row that could not be read (wrong column type, invalid UTF-8).
#[derive(Debug)]
pub(crate) struct RowError {
    pub seq: Option<i64>,
    pub detail: String,
}

/// Read access to one trail, as one consistent snapshot.
pub(crate) trait TrailReader {
    fn checkpoints(&mut self) -> Result<Vec<Result<RawCheckpoint, RowError>>, AuditError>;
    /// Calls `f` for every record ordered by `seq`; stops when `f` returns `false`.
    fn scan(
        &mut self,
        f: &mut dyn FnMut(Result<RawRow, RowError>) -> bool,
    ) -> Result<(), AuditError>;
}

/// Opens a read-only reader for `store` and runs `f` on one consistent snapshot of it (`f` gets
/// the reader and the backend name).
///
/// SQLite: opened without a WAL (`immutable`), the snapshot is the main file alone; a writer
/// that started meanwhile and checkpointed into it may have changed it under the reader, so the
/// read is repeated through the WAL (at most three times). PostgreSQL: the sync client must not
/// run inside an async runtime, so the read runs on a plain thread.
pub(crate) fn read<T, E>(
    store: StoreUrl,
    f: impl Fn(&mut dyn TrailReader, &'static str) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<AuditError> + Send + 'static,
{
    match store {
        StoreUrl::Sqlite { path } => {
            let mut attempts = 0;
            loop {
                let mut r = super::sqlite::SqliteReader::open(&path)?;
                let result = f(&mut r, "sqlite");
                let immutable = r.immutable();
                drop(r);
                attempts += 1;
                if immutable && super::sqlite::has_wal(&path) && attempts < 3 {
                    continue;
                }
                return result;
            }
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres { conn, schema } => std::thread::spawn(move || {
            let mut r = super::postgres::PostgresReader::open(&conn, &schema)?;
            f(&mut r, "postgres")
        })
        .join()
        .unwrap_or_else(|_| {
            Err(E::from(AuditError::new(
                AuditErrorKind::Unavailable,
                "the verifier thread stopped",
            )))
        }),
        #[cfg(not(feature = "postgres"))]
        StoreUrl::Postgres { .. } => Err(E::from(AuditError::new(
            AuditErrorKind::Unsupported,
            "this build of observa has no `postgres` feature",
        ))),
    }
}
