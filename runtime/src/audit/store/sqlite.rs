//! The embedded SQLite store (the default).
//!
//! Layout: `audit_meta` (trail id, schema version), `audit_records` (one row per record; `seq`
//! is the `INTEGER PRIMARY KEY`, i.e. the table's own unique B-tree key: no second index to
//! write, so a commit touches fewer pages), `audit_checkpoints` (one row per checkpoint). All three tables are
//! append-only: triggers `RAISE(ABORT)` on `UPDATE` and `DELETE`. The database runs in WAL mode with
//! `synchronous=FULL` (`durable`) or `NORMAL` (`buffered`); writers take the write lock with
//! `BEGIN IMMEDIATE` and wait up to 10 s for another process holding it.

use super::read::{RawCheckpoint, RawRow, RowError, TrailReader};
use crate::audit::config::Durability;
use crate::audit::error::{AuditError, AuditErrorKind};
use crate::audit::record::{
    COLUMNS, Cell, ColumnType, GENESIS_HASH, RawCell, SCHEMA_VERSION, StoredRecord, cols,
};
use crate::audit::util;
use crate::audit::writer::{Backend, Checkpoint, Head};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn schema_sql() -> String {
    let cols: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // `seq` is the table's own B-tree key (module docs).
            let key = if i == cols::SEQ { " PRIMARY KEY" } else { "" };
            let not_null = if c.nullable { "" } else { " NOT NULL" };
            format!("  {} {}{key}{not_null}", c.name, c.ty.sqlite())
        })
        .collect();
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit_records (
{}
) STRICT;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  count INTEGER PRIMARY KEY NOT NULL,
  trail TEXT NOT NULL,
  head_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  public_key TEXT,
  signature TEXT
) STRICT;
",
        cols.join(",\n")
    );
    for table in ["audit_meta", "audit_records", "audit_checkpoints"] {
        for op in ["UPDATE", "DELETE"] {
            sql.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {table}_no_{} BEFORE {op} ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'observa audit trail is append-only'); END;\n",
                op.to_lowercase()
            ));
        }
    }
    sql
}

fn column_names() -> String {
    COLUMNS.map(|c| c.name).join(", ")
}

fn insert_sql() -> String {
    let params: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO audit_records ({}) VALUES ({})",
        column_names(),
        params.join(", ")
    )
}

fn select_sql() -> String {
    format!(
        "SELECT {} FROM audit_records ORDER BY seq, rowid",
        column_names()
    )
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Int(i) => i.to_sql(),
            Self::Text(t) => t.to_sql(),
        }
    }
}

fn unavailable(path: &Path, e: rusqlite::Error) -> AuditError {
    let mut err = AuditError::from(e);
    if err.kind() != AuditErrorKind::Io && err.kind() != AuditErrorKind::Corrupt {
        err = AuditError::new(
            AuditErrorKind::Unavailable,
            format!("cannot open the audit database `{}`", path.display()),
        )
        .with_source(err);
    }
    err
}

/// The writer-thread side of a SQLite trail.
#[derive(Debug)]
pub(crate) struct SqliteBackend {
    path: PathBuf,
    durability: Durability,
    conn: Option<Connection>,
    trail: String,
    insert_sql: String,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path` and its tables.
    pub(crate) fn open(path: PathBuf, durability: Durability) -> Result<Self, AuditError> {
        let mut b = Self {
            path,
            durability,
            conn: None,
            trail: String::new(),
            insert_sql: insert_sql(),
        };
        b.connect()?;
        Ok(b)
    }

    fn connect(&mut self) -> Result<&mut Connection, AuditError> {
        if self.conn.is_none() {
            let conn = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| unavailable(&self.path, e))?;
            let trail = init(&conn, self.durability).map_err(|e| unavailable(&self.path, e))?;
            let trail = trail?;
            self.trail = trail;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| AuditError::new(AuditErrorKind::Unavailable, "no connection"))
    }
}

/// Pragmas, tables, trail id. The outer error is SQLite's, the inner one observa's.
fn init(
    conn: &Connection,
    durability: Durability,
) -> Result<Result<String, AuditError>, rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Ok(Err(AuditError::new(
            AuditErrorKind::Unavailable,
            format!("the audit database refused WAL mode (got `{mode}`)"),
        )));
    }
    let sync = match durability {
        Durability::Durable => "FULL",
        Durability::Buffered => "NORMAL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous={sync};"))?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let r = (|| {
        conn.execute_batch(&schema_sql())?;
        let new_trail = util::uuid_v7(std::time::SystemTime::now());
        conn.execute(
            "INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('trail', ?1), ('schema_version', ?2)",
            [new_trail, SCHEMA_VERSION.to_string()],
        )?;
        let trail: String = conn.query_row(
            "SELECT value FROM audit_meta WHERE key = 'trail'",
            [],
            |r| r.get(0),
        )?;
        let version: String = conn.query_row(
            "SELECT value FROM audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )?;
        Ok::<_, rusqlite::Error>((trail, version))
    })();
    match r {
        Ok((trail, version)) => {
            conn.execute_batch("COMMIT")?;
            if version.parse::<u32>().ok() != Some(SCHEMA_VERSION) {
                return Ok(Err(AuditError::new(
                    AuditErrorKind::Unsupported,
                    format!(
                        "the audit trail has schema version `{version}`; this build reads {SCHEMA_VERSION}"
                    ),
                )));
            }
            Ok(Ok(trail))
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The connection of the running transaction (never reconnects mid-transaction).
fn in_txn(conn: &Option<Connection>) -> Result<&Connection, AuditError> {
    conn.as_ref().ok_or_else(|| {
        AuditError::new(
            AuditErrorKind::Unavailable,
            "the audit database connection was lost during a transaction",
        )
    })
}

fn insert_one(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &StoredRecord,
) -> Result<(), AuditError> {
    i64::try_from(r.seq)
        .map_err(|_| AuditError::new(AuditErrorKind::Corrupt, "sequence number overflow"))?;
    let row = r.row();
    let params: Vec<&dyn ToSql> = row.0.iter().map(|c| c as &dyn ToSql).collect();
    stmt.execute(params.as_slice())?;
    Ok(())
}

impl Backend for SqliteBackend {
    fn begin(&mut self) -> Result<Head, AuditError> {
        let conn = self.connect()?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let last: Option<(i64, String)> = match conn.query_row(
            "SELECT seq, record_hash FROM audit_records ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ) {
            Ok(v) => Some(v),
            Err(rusqlite::Error::QueryReturnedNoRows) => None,
            Err(e) => return Err(e.into()),
        };
        let (seq, hash) = match last {
            Some((seq, hash)) => (
                u64::try_from(seq).map_err(|_| {
                    AuditError::new(
                        AuditErrorKind::Corrupt,
                        "negative sequence number at the head",
                    )
                })?,
                hash,
            ),
            None => (0, GENESIS_HASH.to_owned()),
        };
        Ok(Head {
            trail: self.trail.clone(),
            seq,
            hash,
        })
    }

    fn insert(&mut self, records: &[StoredRecord]) -> Result<(), AuditError> {
        let conn = in_txn(&self.conn)?;
        let mut stmt = conn.prepare_cached(&self.insert_sql)?;
        for r in records {
            insert_one(&mut stmt, r)?;
        }
        Ok(())
    }

    fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<(), AuditError> {
        let count = i64::try_from(c.count)
            .map_err(|_| AuditError::new(AuditErrorKind::Corrupt, "checkpoint count overflow"))?;
        let conn = in_txn(&self.conn)?;
        conn.prepare_cached(
            "INSERT INTO audit_checkpoints (count, trail, head_hash, created_at, public_key, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(rusqlite::params![
            count,
            c.trail,
            c.head_hash,
            c.created_at,
            c.public_key,
            c.signature
        ])?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), AuditError> {
        in_txn(&self.conn)?.execute_batch("COMMIT")?;
        Ok(())
    }

    fn abort(&mut self) {
        if let Some(conn) = self.conn.take()
            && !conn.is_autocommit()
        {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// Read side for `verify`: one read transaction, so records and checkpoints are one snapshot.
///
/// Verifying never writes to the evidence: the database is opened read-only through a URI, and
/// SQLite never creates, checkpoints, truncates or deletes a file on behalf of a read-only
/// connection.
///
/// - No `-wal` file beside the database: nothing is in flight, the main file is the whole trail.
///   It is opened `immutable=1`: no locks, no `-shm`, no `-wal` created.
/// - A `-wal` file exists (a writer is running, or one was killed before checkpointing): the
///   records in it are part of the trail, and `immutable=1` would ignore them. It is opened
///   `mode=ro&readonly_shm=1`: the `-shm` index is opened read-only, so SQLite neither rebuilds
///   nor updates it; when it cannot be trusted (a crashed writer) the WAL is read into private
///   memory instead. One exception: inside a process that has the trail open for writing,
///   SQLite shares one `-shm` mapping between the process's connections, so the verifier's read
///   mark may be written there (the index, never the database or the WAL). Run
///   `observa-audit verify` as its own process to leave every byte as it was.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    conn: Connection,
    immutable: bool,
}

/// Whether a `-wal` file exists beside the database at `path`.
pub(crate) fn has_wal(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Path::new(&wal).exists()
}

/// `file:` URI of `path` with `query`: every byte outside the unreserved set percent-encoded, so
/// a `?`, `#` or `%` in a file name stays part of the name.
fn file_uri(path: &Path, query: &str) -> Result<String, AuditError> {
    let abs = std::path::absolute(path).map_err(|e| {
        AuditError::new(
            AuditErrorKind::Unavailable,
            format!("cannot resolve `{}`", path.display()),
        )
        .with_source(e)
    })?;
    let mut uri = String::from("file:");
    for &b in abs.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push('?');
    uri.push_str(query);
    Ok(uri)
}

impl SqliteReader {
    /// Opens an existing trail read-only, without creating or changing any file.
    pub(crate) fn open(path: &Path) -> Result<Self, AuditError> {
        if !path.is_file() {
            return Err(AuditError::new(
                AuditErrorKind::Unavailable,
                format!("no audit database at `{}`", path.display()),
            ));
        }
        let immutable = !has_wal(path);
        let query = if immutable {
            "mode=ro&immutable=1"
        } else {
            "mode=ro&readonly_shm=1"
        };
        let conn = Connection::open_with_flags(
            file_uri(path, query)?,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| unavailable(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Belt and braces: refuse any write statement on this connection.
        conn.pragma_update(None, "query_only", true)?;
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('audit_records', 'audit_checkpoints')",
            [],
            |r| r.get(0),
        )?;
        if tables != 2 {
            return Err(AuditError::new(
                AuditErrorKind::Unavailable,
                format!("`{}` holds no observa audit trail", path.display()),
            ));
        }
        conn.execute_batch("BEGIN")?;
        Ok(Self { conn, immutable })
    }

    /// Whether the database was opened `immutable=1` (no `-wal` file at the time).
    pub(crate) fn immutable(&self) -> bool {
        self.immutable
    }
}

fn text(v: ValueRef<'_>, col: &str) -> Result<Option<String>, String> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Text(b) => String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| format!("column `{col}` is not valid UTF-8")),
        _ => Err(format!("column `{col}` is not text")),
    }
}

fn int(v: ValueRef<'_>, col: &str) -> Result<i64, String> {
    match v {
        ValueRef::Integer(i) => Ok(i),
        _ => Err(format!("column `{col}` is not an integer")),
    }
}

impl TrailReader for SqliteReader {
    fn checkpoints(&mut self) -> Result<Vec<Result<RawCheckpoint, RowError>>, AuditError> {
        let mut stmt = self.conn.prepare(
            "SELECT count, trail, head_hash, created_at, public_key, signature FROM audit_checkpoints ORDER BY count",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let read = || -> Result<RawCheckpoint, String> {
                let req = |i: usize, c: &str| -> Result<String, String> {
                    text(row.get_ref(i).map_err(|e| e.to_string())?, c)?
                        .ok_or_else(|| format!("checkpoint column `{c}` is NULL"))
                };
                Ok(RawCheckpoint {
                    count: int(row.get_ref(0).map_err(|e| e.to_string())?, "count")?,
                    trail: req(1, "trail")?,
                    head_hash: req(2, "head_hash")?,
                    created_at: req(3, "created_at")?,
                    public_key: text(row.get_ref(4).map_err(|e| e.to_string())?, "public_key")?,
                    signature: text(row.get_ref(5).map_err(|e| e.to_string())?, "signature")?,
                })
            };
            out.push(read().map_err(|detail| RowError {
                seq: row.get_ref(0).ok().and_then(|v| int(v, "count").ok()),
                detail,
            }));
        }
        Ok(out)
    }

    fn scan(
        &mut self,
        f: &mut dyn FnMut(Result<RawRow, RowError>) -> bool,
    ) -> Result<(), AuditError> {
        let mut stmt = self.conn.prepare(&select_sql())?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let read = || -> Result<RawRow, String> {
                let mut cells: [RawCell; 28] = Default::default();
                for (i, (cell, c)) in cells.iter_mut().zip(&COLUMNS).enumerate() {
                    let v = row.get_ref(i).map_err(|e| e.to_string())?;
                    *cell = match c.ty {
                        ColumnType::Text => RawCell::Text(text(v, c.name)?),
                        ColumnType::BigInt | ColumnType::Int => RawCell::Int(int(v, c.name)?),
                    };
                }
                Ok(RawRow(cells))
            };
            let item = read().map_err(|detail| RowError {
                seq: row.get_ref(cols::SEQ).ok().and_then(|v| int(v, "seq").ok()),
                detail,
            });
            if !f(item) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The statements derived from the column table are the ones every existing database was
    /// created and written with.
    #[test]
    fn statements_are_unchanged() {
        assert!(super::schema_sql().contains(
            r#"CREATE TABLE IF NOT EXISTS audit_records (
  seq INTEGER PRIMARY KEY NOT NULL,
  schema_version INTEGER NOT NULL,
  trail TEXT NOT NULL,
  id TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  action TEXT NOT NULL,
  category TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error_class TEXT,
  error_message TEXT,
  reason TEXT,
  actor TEXT NOT NULL,
  user_id TEXT,
  target TEXT,
  source_ip TEXT,
  user_agent TEXT,
  session_fp TEXT,
  service TEXT,
  version TEXT,
  host TEXT,
  correlation_id TEXT,
  trace_id TEXT,
  tenant TEXT,
  changes TEXT,
  severity TEXT NOT NULL,
  attempt_id TEXT,
  prev_hash TEXT NOT NULL,
  record_hash TEXT
) STRICT;"#
        ));
        assert_eq!(
            super::insert_sql(),
            r#"INSERT INTO audit_records (seq, schema_version, trail, id, recorded_at, action, category, outcome, error_class, error_message, reason, actor, user_id, target, source_ip, user_agent, session_fp, service, version, host, correlation_id, trace_id, tenant, changes, severity, attempt_id, prev_hash, record_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)"#
        );
        assert_eq!(
            super::select_sql(),
            r#"SELECT seq, schema_version, trail, id, recorded_at, action, category, outcome, error_class, error_message, reason, actor, user_id, target, source_ip, user_agent, session_fp, service, version, host, correlation_id, trace_id, tenant, changes, severity, attempt_id, prev_hash, record_hash FROM audit_records ORDER BY seq, rowid"#
        );
    }
}
