//! Bound fields on stored audit records: `#[audit]` calls inside a scope with
//! `#[observed(bind(...))]` or `observa::context::bind_field` store those fields (sensitive names
//! masked) in the record's `changes` text under `"bound"`, read back from a real SQLite file with
//! rusqlite; a call outside the scope stores none; the trail verifies, in process and with the
//! `observa-audit verify` process.

use observa::{audit, observed};
use serde_json::Value;
use std::fmt;

mod audit_support;

#[derive(Debug)]
struct AppError(String);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<observa::audit::AuditError> for AppError {
    fn from(e: observa::audit::AuditError) -> Self {
        AppError(e.to_string())
    }
}

#[audit(action = "connection.sync", actor = "worker", target = connection_id)]
fn sync_connection(connection_id: &str) -> Result<usize, AppError> {
    Ok(connection_id.len())
}

#[audit(action = "connection.rename", actor = "worker", target = id, changes = (before, after))]
fn rename(id: u64, before: &str, after: &str) -> Result<(), AppError> {
    let _ = (id, before, after);
    Ok(())
}

#[audit(action = "connection.sync_async", actor = "worker", target = connection_id)]
async fn sync_async(connection_id: String) -> Result<usize, AppError> {
    tokio::task::yield_now().await;
    Ok(connection_id.len())
}

/// Seed 001's worker: `job_id`, `job_type`, `connection_id` bound by the attribute,
/// `celery_task_id` from inside the body, and a sensitive name.
#[observed(
    event = "worker.shopify_sync",
    bind(job_id, connection_id, job_type = "shopify_sync")
)]
fn worker_task(job_id: u64, connection_id: &str) -> Result<usize, AppError> {
    observa::context::bind_field("celery_task_id", "abc123def456").unwrap();
    observa::context::bind_field("session_token", "bound-canary-tok-5531").unwrap();
    let n = sync_connection(connection_id)?;
    rename(job_id, "old-label", "new-label")?;
    Ok(n)
}

#[observed(event = "worker.async_sync", bind(job_id))]
async fn async_worker_task(job_id: u64) -> Result<usize, AppError> {
    // In a task spawned with observa: the bound fields travel with it.
    observa::spawn(sync_async(format!("conn-{job_id}")))
        .await
        .expect("task")
}

type Row = (i64, String, String, Option<String>, Option<String>);

/// (seq, action, outcome, target, changes) of every record of `action`, in order.
fn rows(db: &std::path::Path, action: &str) -> Vec<Row> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT seq, action, outcome, target, changes FROM audit_records \
             WHERE action = ?1 ORDER BY seq",
        )
        .unwrap();
    st.query_map([action], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn changes(r: &Row) -> Value {
    serde_json::from_str(r.4.as_deref().expect("changes")).expect("changes is JSON")
}

#[test]
fn bound_fields_are_stored_on_records_inside_the_scope_and_the_trail_verifies() {
    let dir = audit_support::TempDir::new("audit-bound");
    let db = dir.path().join("trail.db");
    let url = format!("sqlite:{}", db.display());
    audit::install(audit::AuditConfig::new(url.clone())).expect("open audit store");

    // Outside any scope first: nothing bound, `changes` stays NULL.
    assert_eq!(sync_connection("conn-outside").unwrap(), 12);
    assert_eq!(worker_task(42, "conn-7").unwrap(), 6);
    // And after the scope: nothing leaks into the next record.
    assert_eq!(sync_connection("conn-after").unwrap(), 10);
    // A plain `Context` scope with `bind_field` (no attribute).
    observa::Context::new().with_tenant_id("acme").scope(|| {
        observa::context::bind_field("import_batch", "b-19").unwrap();
        sync_connection("conn-scope").unwrap()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(async_worker_task(77)).unwrap(), 7);

    let sync = rows(&db, "connection.sync");
    let by_target =
        |t: &str| -> Vec<&Row> { sync.iter().filter(|r| r.3.as_deref() == Some(t)).collect() };
    for t in ["conn-outside", "conn-after"] {
        let rs = by_target(t);
        assert_eq!(rs.len(), 2, "{t}: {sync:?}");
        for r in rs {
            assert_eq!(r.4, None, "{t}: no bound fields outside the scope");
        }
    }
    // Inside the attribute's scope: the attempted and the outcome record both carry them.
    let inside = by_target("conn-7");
    assert_eq!(inside.len(), 2, "{sync:?}");
    assert_eq!(
        (inside[0].2.as_str(), inside[1].2.as_str()),
        ("attempted", "success")
    );
    for r in &inside {
        let c = changes(r);
        assert_eq!(
            c,
            serde_json::json!({"bound": {
                "job_id": "42",
                "connection_id": "conn-7",
                "job_type": "shopify_sync",
                "celery_task_id": "abc123def456",
                "session_token": observa::REDACTED,
            }}),
            "{r:?}"
        );
        // Binding order is kept in the stored text.
        let text = r.4.as_deref().unwrap();
        assert!(
            text.find("job_id").unwrap() < text.find("celery_task_id").unwrap(),
            "{text}"
        );
    }
    // With `changes`, the bound fields sit beside before/after.
    let renamed = rows(&db, "connection.rename");
    let c = changes(renamed.last().unwrap());
    assert_eq!(c["before"], "old-label");
    assert_eq!(c["after"], "new-label");
    assert_eq!(c["bound"]["job_type"], "shopify_sync");
    assert_eq!(c["bound"]["session_token"], observa::REDACTED);
    // `bind_field` in a plain scope.
    let scoped = by_target("conn-scope");
    assert_eq!(
        changes(scoped[1]),
        serde_json::json!({"bound": {"import_batch": "b-19"}})
    );
    // An async `#[audit]` fn in a task spawned with `observa::spawn` inside the scope.
    let spawned = rows(&db, "connection.sync_async");
    assert_eq!(spawned.len(), 2, "{spawned:?}");
    for r in &spawned {
        assert_eq!(
            changes(r),
            serde_json::json!({"bound": {"job_id": "77"}}),
            "{r:?}"
        );
    }

    // The sensitive value never reached the store.
    for f in [db.clone(), db.with_extension("db-wal")] {
        if let Ok(raw) = std::fs::read(&f) {
            assert!(
                !String::from_utf8_lossy(&raw).contains("bound-canary"),
                "{f:?}"
            );
        }
    }

    // Records with and without bound fields verify, in process and as a real process.
    audit::verify(&url).expect("live trail verifies");
    audit::shutdown().expect("close the trail");
    audit::verify(&url).expect("closed trail verifies");
    let (code, out, err) = audit_support::cli_verify(&url, &[]);
    assert_eq!(code, 0, "observa-audit verify: {out}\n{err}");
}
