//! Shared helpers of the `audit_*` integration tests.
#![allow(dead_code)]

use observa::audit::{AuditConfig, Auditor, NewRecord, SigningKey, StoredRecord};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "observa-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn url(&self, name: &str) -> String {
        format!("sqlite:{}", self.0.join(name).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A deterministic test signing key.
pub fn test_key() -> SigningKey {
    SigningKey::from_seed(&[7u8; 32])
}

/// Writes a closed trail: `audit.started`, `n` records, `audit.stopped`.
pub fn build_trail(url: &str, n: usize, every: u64, key: Option<SigningKey>) -> Vec<StoredRecord> {
    let mut config = AuditConfig::new(url).with_checkpoint_every(every);
    if let Some(k) = key {
        config = config.with_signing_key(k);
    }
    let a = Auditor::open(config).expect("open trail");
    let mut out = Vec::new();
    for i in 0..n {
        let mut r = NewRecord::new(format!("test.action{}", i % 3), format!("actor-{i}"))
            .target(format!("target-{i}"))
            .reason("test")
            .tenant("tenant-a");
        if i % 2 == 0 {
            r = r.changes(
                serde_json::json!({"plan": "free", "n": i}),
                serde_json::json!({"plan": "pro", "n": i + 1}),
            );
        }
        if i % 5 == 1 {
            r = r.outcome(observa::audit::AuditOutcome::failure(
                "AppError::Denied",
                "denied",
            ));
        }
        out.push(a.append(r).expect("append"));
    }
    a.close().expect("close");
    out
}

/// Runs a binary of this package, returning (exit code, stdout, stderr).
pub fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin).args(args).output().expect("spawn");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `observa-audit verify <url> ...` as a real process.
pub fn cli_verify(url: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify", url];
    args.extend_from_slice(extra);
    run(env!("CARGO_BIN_EXE_observa-audit-cli"), &args)
}

pub const CHILD: &str = env!("CARGO_BIN_EXE_audit_child");

/// The PostgreSQL URL for tests, or `None` (test skipped) when unset outside CI.
pub fn pg_url() -> Option<String> {
    match std::env::var("OBSERVA_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "OBSERVA_TEST_POSTGRES_URL must be set in CI"
            );
            eprintln!("skipping: OBSERVA_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A PostgreSQL schema created for one test and dropped afterwards.
pub struct PgSchema {
    pub base: String,
    pub name: String,
}

impl PgSchema {
    pub fn new(base: &str, tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "observa_{tag}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000
        );
        let mut c = postgres::Client::connect(base, postgres::NoTls).expect("connect to postgres");
        c.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
        Self {
            base: base.to_owned(),
            name,
        }
    }

    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.base, self.name)
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.base, postgres::NoTls).unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// The columns of `audit_records`, in table order (the canonical order, then `record_hash`): the
/// runtime's own table, so a column added there is tampered with here too. The order itself is
/// pinned by the runtime's golden hash test (`audit::record::golden`).
pub use observa::audit::record::COLUMN_NAMES as COLUMNS;

/// Recomputes `prev_hash` and `record_hash` from `from` to the end, following the documented
/// canonical form (an attacker rewriting the tail).
pub fn rehash_from(c: &rusqlite::Connection, from: i64) {
    let mut prev: String = if from == 1 {
        "0".repeat(64)
    } else {
        c.query_row(
            "SELECT record_hash FROM audit_records WHERE seq = ?1",
            [from - 1],
            |r| r.get(0),
        )
        .unwrap()
    };
    let seqs: Vec<i64> = c
        .prepare("SELECT seq FROM audit_records WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([from], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for seq in seqs {
        c.execute(
            "UPDATE audit_records SET prev_hash = ?1 WHERE seq = ?2",
            rusqlite::params![prev, seq],
        )
        .unwrap();
        let mut canonical = String::from("{");
        let hashed = &COLUMNS[..COLUMNS.len() - 1];
        let sql = format!(
            "SELECT {} FROM audit_records WHERE seq = ?1",
            hashed.join(", ")
        );
        c.query_row(&sql, [seq], |r| {
            for (i, col) in hashed.iter().enumerate() {
                if i > 0 {
                    canonical.push(',');
                }
                let v: serde_json::Value = match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                    rusqlite::types::ValueRef::Integer(n) => n.into(),
                    rusqlite::types::ValueRef::Text(t) => {
                        String::from_utf8(t.to_vec()).unwrap().into()
                    }
                    other => panic!("unexpected {other:?}"),
                };
                canonical.push_str(&serde_json::to_string(col).unwrap());
                canonical.push(':');
                canonical.push_str(&serde_json::to_string(&v).unwrap());
            }
            Ok(())
        })
        .unwrap();
        canonical.push('}');
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(canonical.as_bytes());
        let hash: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        c.execute(
            "UPDATE audit_records SET record_hash = ?1 WHERE seq = ?2",
            rusqlite::params![hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}
