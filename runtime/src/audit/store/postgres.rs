//! The PostgreSQL store (feature `postgres`): one trail shared by several processes.
//!
//! Layout in the configured schema: `audit_head` (a single row: trail id and schema version),
//! `audit_records`, `audit_checkpoints`. Every write transaction first locks the head row with
//! `SELECT … FOR UPDATE`, then reads the last record, so writers in different processes take
//! turns: sequence numbers stay gap-free and every record links to the one before it. One batch is
//! inserted with a single `INSERT … SELECT FROM unnest(…)` statement and one commit. Triggers
//! reject `UPDATE`, `DELETE` and `TRUNCATE` on all three tables. The sync `postgres` client runs
//! on the writer thread (never inside an async runtime).
//!
//! Connections use TLS as the URL's `sslmode` / `sslrootcert` say ([`super::tls`]). Every write
//! transaction starts `ISOLATION LEVEL READ COMMITTED` (the head row lock is what serialises
//! writers; under a stricter server default they would fail with serialisation errors) and sets
//! `synchronous_commit` for its own scope: `on` in `durable` mode, `off` in `buffered`, whatever
//! the server, database or role defaults are.

use super::read::{RawCheckpoint, RawRow, RowError, TrailReader};
use crate::audit::config::Durability;
use crate::audit::error::{AuditError, AuditErrorKind};
use crate::audit::record::{
    COLUMNS, Cell, ColumnType, GENESIS_HASH, RawCell, SCHEMA_VERSION, StoredRecord, cols,
};
use crate::audit::util;
use crate::audit::writer::{Backend, Checkpoint, Head};
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::types::ToSql;

fn q(schema: &str) -> String {
    // `schema` is validated as an identifier by the URL parser; quote it anyway.
    format!("\"{schema}\"")
}

/// Connects over TLS as `sslmode` asks ([`super::tls`]).
fn connect(conn: &str) -> Result<Client, AuditError> {
    let (conn, tls) = super::tls::connector(conn)?;
    Client::connect(&conn, tls).map_err(|e| {
        AuditError::new(
            AuditErrorKind::Unavailable,
            "cannot connect to the PostgreSQL audit store",
        )
        .with_source(e)
    })
}

fn schema_sql(s: &str) -> String {
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let nn = if c.nullable { "" } else { " NOT NULL" };
            format!("  {} {}{nn}", c.name, c.ty.postgres())
        })
        .collect();
    let mut sql = format!(
        "CREATE TABLE {s}.audit_head (
  id SMALLINT PRIMARY KEY CHECK (id = 1),
  trail TEXT NOT NULL,
  schema_version INTEGER NOT NULL
);
CREATE TABLE {s}.audit_records (
{}
);
CREATE UNIQUE INDEX audit_records_seq ON {s}.audit_records (seq);
CREATE TABLE {s}.audit_checkpoints (
  count BIGINT PRIMARY KEY,
  trail TEXT NOT NULL,
  head_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  public_key TEXT,
  signature TEXT
);
CREATE FUNCTION {s}.observa_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'observa audit trail is append-only'; END $$;
",
        cols.join(",\n")
    );
    for t in ["audit_head", "audit_records", "audit_checkpoints"] {
        sql.push_str(&format!(
            "CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {s}.{t} \
             FOR EACH ROW EXECUTE FUNCTION {s}.observa_audit_append_only();\n\
             CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {s}.{t} \
             FOR EACH STATEMENT EXECUTE FUNCTION {s}.observa_audit_append_only();\n"
        ));
    }
    sql
}

/// One batch in one statement: an array per column, of the column's type.
fn insert_sql(s: &str) -> String {
    let params: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}[]", i + 1, c.ty.postgres().to_lowercase()))
        .collect();
    format!(
        "INSERT INTO {s}.audit_records ({}) SELECT * FROM unnest({})",
        COLUMNS.map(|c| c.name).join(", "),
        params.join(", ")
    )
}

/// The writer-thread side of a PostgreSQL trail.
pub(crate) struct PostgresBackend {
    conn: String,
    schema: String,
    durability: Durability,
    client: Option<Client>,
    trail: String,
    insert_sql: String,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never print it.
        f.debug_struct("PostgresBackend")
            .field("schema", &self.schema)
            .field("trail", &self.trail)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects and creates the schema and tables if needed (serialised across processes by an
    /// advisory lock).
    pub(crate) fn open(
        conn: &str,
        schema: &str,
        durability: Durability,
    ) -> Result<Self, AuditError> {
        let s = q(schema);
        let insert_sql = insert_sql(&s);
        let mut b = Self {
            conn: conn.to_owned(),
            schema: schema.to_owned(),
            durability,
            client: None,
            trail: String::new(),
            insert_sql,
        };
        b.client()?;
        Ok(b)
    }

    fn client(&mut self) -> Result<&mut Client, AuditError> {
        if self.client.is_none() {
            let mut c = connect(&self.conn)?;
            self.trail = init(&mut c, &self.schema)?;
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| AuditError::new(AuditErrorKind::Unavailable, "no connection"))
    }

    fn in_txn(&mut self) -> Result<&mut Client, AuditError> {
        self.client.as_mut().ok_or_else(|| {
            AuditError::new(
                AuditErrorKind::Unavailable,
                "the PostgreSQL connection was lost during a transaction",
            )
        })
    }
}

fn init(c: &mut Client, schema: &str) -> Result<String, AuditError> {
    let s = q(schema);
    let mut tx = c
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::ReadCommitted)
        .read_only(false)
        .start()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('observa-audit:' || $1::text))",
        &[&schema],
    )?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))?;
    let exists: Option<String> = tx
        .query_one(
            "SELECT to_regclass($1)::text",
            &[&format!("{s}.audit_head")],
        )?
        .get(0);
    if exists.is_none() {
        tx.batch_execute(&schema_sql(&s))?;
    }
    let new_trail = util::uuid_v7(std::time::SystemTime::now());
    tx.execute(
        &format!(
            "INSERT INTO {s}.audit_head (id, trail, schema_version) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING"
        ),
        &[&new_trail, &(SCHEMA_VERSION as i32)],
    )?;
    let row = tx.query_one(
        &format!("SELECT trail, schema_version FROM {s}.audit_head WHERE id = 1"),
        &[],
    )?;
    let trail: String = row.get(0);
    let version: i32 = row.get(1);
    tx.commit()?;
    if version != SCHEMA_VERSION as i32 {
        return Err(AuditError::new(
            AuditErrorKind::Unsupported,
            format!(
                "the audit trail has schema version {version}; this build reads {SCHEMA_VERSION}"
            ),
        ));
    }
    Ok(trail)
}

impl Backend for PostgresBackend {
    fn begin(&mut self) -> Result<Head, AuditError> {
        let s = q(&self.schema);
        let durable = self.durability == Durability::Durable;
        let c = self.client()?;
        // Pinned per transaction, whatever the server, database or role defaults say: READ
        // COMMITTED (the head row lock serialises writers; a stricter level would abort them
        // with serialisation failures) and the durability mode's commit flush.
        c.batch_execute(if durable {
            "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE; SET LOCAL synchronous_commit TO ON"
        } else {
            "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE; SET LOCAL synchronous_commit TO OFF"
        })?;
        let trail: String = c
            .query_one(
                &format!("SELECT trail FROM {s}.audit_head WHERE id = 1 FOR UPDATE"),
                &[],
            )?
            .get(0);
        let last = c.query_opt(
            &format!("SELECT seq, record_hash FROM {s}.audit_records ORDER BY seq DESC LIMIT 1"),
            &[],
        )?;
        let (seq, hash) = match last {
            Some(row) => {
                let seq: i64 = row.get(0);
                let seq = u64::try_from(seq).map_err(|_| {
                    AuditError::new(
                        AuditErrorKind::Corrupt,
                        "negative sequence number at the head",
                    )
                })?;
                (seq, row.get::<_, String>(1))
            }
            None => (0, GENESIS_HASH.to_owned()),
        };
        self.trail.clone_from(&trail);
        Ok(Head { trail, seq, hash })
    }

    fn insert(&mut self, records: &[StoredRecord]) -> Result<(), AuditError> {
        // One array per column, of the column's type.
        let mut arrays: Vec<Array<'_>> = COLUMNS
            .iter()
            .map(|c| match c.ty {
                ColumnType::BigInt => Array::BigInt(Vec::with_capacity(records.len())),
                ColumnType::Int => Array::Int(Vec::with_capacity(records.len())),
                ColumnType::Text => Array::Text(Vec::with_capacity(records.len())),
            })
            .collect();
        for r in records {
            i64::try_from(r.seq).map_err(|_| {
                AuditError::new(AuditErrorKind::Corrupt, "sequence number overflow")
            })?;
            for (array, cell) in arrays.iter_mut().zip(r.row().0) {
                match (array, cell) {
                    (Array::BigInt(a), Cell::Int(v)) => a.push(v),
                    (Array::Int(a), Cell::Int(v)) => a.push(i32::try_from(v).map_err(|_| {
                        AuditError::new(AuditErrorKind::Corrupt, "integer column overflow")
                    })?),
                    (Array::Text(a), Cell::Text(t)) => a.push(t),
                    _ => {
                        return Err(AuditError::new(
                            AuditErrorKind::Corrupt,
                            "a value does not match its column type",
                        ));
                    }
                }
            }
        }
        let params: Vec<&(dyn ToSql + Sync)> = arrays
            .iter()
            .map(|a| -> &(dyn ToSql + Sync) {
                match a {
                    Array::BigInt(v) => v,
                    Array::Int(v) => v,
                    Array::Text(v) => v,
                }
            })
            .collect();
        let sql = self.insert_sql.clone();
        self.in_txn()?.execute(&sql, &params)?;
        Ok(())
    }

    fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<(), AuditError> {
        let s = q(&self.schema);
        let count = i64::try_from(c.count)
            .map_err(|_| AuditError::new(AuditErrorKind::Corrupt, "checkpoint count overflow"))?;
        self.in_txn()?.execute(
            &format!(
                "INSERT INTO {s}.audit_checkpoints (count, trail, head_hash, created_at, public_key, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            &[
                &count,
                &c.trail,
                &c.head_hash,
                &c.created_at,
                &c.public_key,
                &c.signature,
            ],
        )?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), AuditError> {
        self.in_txn()?.batch_execute("COMMIT")?;
        Ok(())
    }

    fn abort(&mut self) {
        if let Some(mut c) = self.client.take() {
            let _ = c.batch_execute("ROLLBACK");
        }
    }
}

/// The values of one column for a batch of records.
enum Array<'a> {
    BigInt(Vec<i64>),
    Int(Vec<i32>),
    Text(Vec<Option<&'a str>>),
}

/// Read side for `verify`: one `REPEATABLE READ` read-only transaction.
pub(crate) struct PostgresReader {
    client: Client,
    schema: String,
}

impl std::fmt::Debug for PostgresReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresReader")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresReader {
    pub(crate) fn open(conn: &str, schema: &str) -> Result<Self, AuditError> {
        let mut client = connect(conn)?;
        let s = q(schema);
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let present: i64 = client
            .query_one(
                "SELECT count(*) FROM (SELECT to_regclass($1) AS a UNION ALL SELECT to_regclass($2)) t WHERE a IS NOT NULL",
                &[
                    &format!("{s}.audit_records"),
                    &format!("{s}.audit_checkpoints"),
                ],
            )?
            .get(0);
        if present != 2 {
            return Err(AuditError::new(
                AuditErrorKind::Unavailable,
                format!("schema `{schema}` holds no observa audit trail"),
            ));
        }
        Ok(Self {
            client,
            schema: schema.to_owned(),
        })
    }
}

impl TrailReader for PostgresReader {
    fn checkpoints(&mut self) -> Result<Vec<Result<RawCheckpoint, RowError>>, AuditError> {
        let s = q(&self.schema);
        let rows = self.client.query(
            &format!(
                "SELECT count, trail, head_hash, created_at, public_key, signature FROM {s}.audit_checkpoints ORDER BY count"
            ),
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let read = || -> Result<RawCheckpoint, postgres::Error> {
                    Ok(RawCheckpoint {
                        count: r.try_get(0)?,
                        trail: r.try_get(1)?,
                        head_hash: r.try_get(2)?,
                        created_at: r.try_get(3)?,
                        public_key: r.try_get(4)?,
                        signature: r.try_get(5)?,
                    })
                };
                read().map_err(|e| RowError {
                    seq: r.try_get::<_, i64>(0).ok(),
                    detail: e.to_string(),
                })
            })
            .collect())
    }

    fn scan(
        &mut self,
        f: &mut dyn FnMut(Result<RawRow, RowError>) -> bool,
    ) -> Result<(), AuditError> {
        let s = q(&self.schema);
        let sql = format!(
            "SELECT {} FROM {s}.audit_records ORDER BY seq, ctid",
            COLUMNS.map(|c| c.name).join(", ")
        );
        let mut rows = self.client.query_raw(&sql, std::iter::empty::<i32>())?;
        while let Some(r) = rows.next()? {
            let read = || -> Result<RawRow, postgres::Error> {
                let mut cells: [RawCell; 28] = Default::default();
                for (i, (cell, c)) in cells.iter_mut().zip(&COLUMNS).enumerate() {
                    *cell = match c.ty {
                        ColumnType::BigInt => RawCell::Int(r.try_get(i)?),
                        ColumnType::Int => RawCell::Int(i64::from(r.try_get::<_, i32>(i)?)),
                        ColumnType::Text => RawCell::Text(r.try_get(i)?),
                    };
                }
                Ok(RawRow(cells))
            };
            let item = read().map_err(|e| RowError {
                seq: r.try_get::<_, i64>(cols::SEQ).ok(),
                detail: e.to_string(),
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
    /// The statements derived from the column table are the ones every existing schema was
    /// created and written with.
    #[test]
    fn statements_are_unchanged() {
        assert!(
            super::schema_sql("\"t\"").contains(
                &r#"CREATE TABLE {s}.audit_records (
  seq BIGINT NOT NULL,
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
);"#
                .replace("{s}", "\"t\"")
            )
        );
        assert_eq!(
            super::insert_sql("\"t\""),
            r#"INSERT INTO "t".audit_records (seq, schema_version, trail, id, recorded_at, action, category, outcome, error_class, error_message, reason, actor, user_id, target, source_ip, user_agent, session_fp, service, version, host, correlation_id, trace_id, tenant, changes, severity, attempt_id, prev_hash, record_hash) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[])"#
        );
    }
}
