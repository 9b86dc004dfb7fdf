//! The two stores, SQLite (the default) and PostgreSQL (feature `postgres`), and the one place
//! that turns a parsed store URL into a store: [`start_writer`] for the write side, [`read()`] for
//! the verifier's read side.
//!
//! - [`sqlite`]: the embedded database; writer backend and read-only reader.
//! - [`postgres`]: one trail shared by several processes; writer backend and reader.
//! - [`tls`]: rustls for PostgreSQL connections, from the URL's `sslmode` / `sslrootcert`.
//! - [`read`](mod@read): the read-side rows and the [`TrailReader`] trait both stores implement.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod read;
pub(crate) mod sqlite;
#[cfg(feature = "postgres")]
mod tls;

pub(crate) use read::TrailReader;

use super::config::{Durability, StoreUrl};
use super::error::{AuditError, AuditErrorKind};
use super::writer::{Sealer, Writer};

/// Starts the writer thread of the store `store` names, connected and with its tables created.
pub(crate) fn start_writer(
    store: StoreUrl,
    durability: Durability,
    sealer: Sealer,
    max_batch: usize,
) -> Result<Writer, AuditError> {
    match store {
        StoreUrl::Sqlite { path } => Writer::start(
            "sqlite",
            move || sqlite::SqliteBackend::open(path, durability),
            sealer,
            max_batch,
        ),
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres { conn, schema } => Writer::start(
            "postgres",
            move || postgres::PostgresBackend::open(&conn, &schema, durability),
            sealer,
            max_batch,
        ),
        #[cfg(not(feature = "postgres"))]
        StoreUrl::Postgres { .. } => Err(AuditError::new(
            AuditErrorKind::Unsupported,
            "a `postgres://` audit URL needs the `postgres` feature of observa",
        )),
    }
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
                let mut r = sqlite::SqliteReader::open(&path)?;
                let result = f(&mut r, "sqlite");
                let immutable = r.immutable();
                drop(r);
                attempts += 1;
                if immutable && sqlite::has_wal(&path) && attempts < 3 {
                    continue;
                }
                return result;
            }
        }
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres { conn, schema } => std::thread::spawn(move || {
            let mut r = postgres::PostgresReader::open(&conn, &schema)?;
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
