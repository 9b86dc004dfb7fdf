//! `Config` values reach the audit store: the store named by `Config::audit_url` (set in code,
//! `OBSERVA_AUDIT_URL` unset) is the one `#[audit]` writes to, and the service name and version
//! of the `Config` are the record's, whatever `OBSERVA_SERVICE_NAME` says. From the environment:
//! `OBSERVA_SERVICE_NAME`, `OBSERVA_SERVICE_VERSION`, `OBSERVA_AUDIT_URL` and
//! `OBSERVA_AUDIT_DURABILITY=buffered` reach the record and the store's `audit.started` settings.
//!
//! `init` and the process-wide auditor are per process: each case runs in a child process.

use observa::audit;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHILD: &str = "OBSERVA_TEST_AUDIT_CFG_CHILD";

#[derive(Debug)]
struct AppError(String);

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<audit::AuditError> for AppError {
    fn from(e: audit::AuditError) -> AppError {
        AppError(e.to_string())
    }
}

#[audit(action = "invoice.void", actor = "clerk-3", target = invoice)]
fn void_invoice(invoice: &str) -> Result<(), AppError> {
    let _ = invoice;
    Ok(())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("observa-cfgaudit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs child test `name` in `cwd` with `envs`, every other `OBSERVA_*` variable removed.
fn run_child(name: &str, cwd: &Path, envs: &[(&str, String)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("OBSERVA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(CHILD, cwd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (action, service, version, changes) of one record.
type Row = (String, Option<String>, Option<String>, Option<String>);

/// Every record of the trail at `db`, in order.
fn records(db: &Path) -> Vec<Row> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    let mut q = c
        .prepare("SELECT action, service, version, changes FROM audit_records ORDER BY seq")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Child: the store and the service only in code.
#[test]
fn child_config_in_code() {
    let Some(dir) = std::env::var_os(CHILD).map(PathBuf::from) else {
        return;
    };
    let guard = observa::init(
        observa::Config::new("billing-from-config")
            .with_service_version("3.2.1-config")
            .with_audit_url(format!("sqlite:{}", dir.join("trail.db").display()))
            .with_writer(std::io::sink()),
    )
    .unwrap();
    void_invoice("inv-77").unwrap();
    drop(guard); // closes the trail
}

#[test]
fn audit_url_and_service_set_in_code_reach_the_store() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = temp_dir("code");
    // The environment names another service; it must not win over the Config.
    run_child(
        "child_config_in_code",
        &dir,
        &[("OBSERVA_SERVICE_NAME", "name-from-env".to_owned())],
    );
    // Nothing at the default store (`sqlite:observa-audit.db` in the working directory).
    assert!(
        !dir.join(audit::DEFAULT_URL.trim_start_matches("sqlite:"))
            .exists()
    );
    let recs = records(&dir.join("trail.db"));
    let void: Vec<_> = recs.iter().filter(|r| r.0 == "invoice.void").collect();
    assert_eq!(void.len(), 2, "attempted + success: {recs:?}");
    for r in recs {
        assert_eq!(r.1.as_deref(), Some("billing-from-config"), "{r:?}");
        assert_eq!(r.2.as_deref(), Some("3.2.1-config"), "{r:?}");
    }
    let report = audit::verify(&format!("sqlite:{}", dir.join("trail.db").display())).unwrap();
    assert!(report.clean_shutdown);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Child: everything from the environment.
#[test]
fn child_config_from_env() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let guard = observa::init_from_env().unwrap();
    void_invoice("inv-78").unwrap();
    drop(guard);
}

#[test]
fn service_version_url_and_durability_come_from_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = temp_dir("env");
    let db = dir.join("env-trail.db");
    run_child(
        "child_config_from_env",
        &dir,
        &[
            ("OBSERVA_SERVICE_NAME", "billing-from-env".to_owned()),
            ("OBSERVA_SERVICE_VERSION", "7.7.7-env".to_owned()),
            ("OBSERVA_AUDIT_URL", format!("sqlite:{}", db.display())),
            ("OBSERVA_AUDIT_DURABILITY", "buffered".to_owned()),
        ],
    );
    assert!(!dir.join("observa-audit.db").exists());
    let recs = records(&db);
    assert!(recs.iter().any(|r| r.0 == "invoice.void"), "{recs:?}");
    for r in &recs {
        assert_eq!(r.1.as_deref(), Some("billing-from-env"), "{r:?}");
        assert_eq!(r.2.as_deref(), Some("7.7.7-env"), "{r:?}");
    }
    // The store's settings, recorded in `audit.started`: buffered (the default is durable).
    let started = recs
        .iter()
        .find(|r| r.0 == "audit.started")
        .expect("audit.started");
    let changes: serde_json::Value =
        serde_json::from_str(started.3.as_deref().expect("settings")).unwrap();
    let found = find_key(&changes, "durability");
    assert_eq!(found, Some(&serde_json::json!("buffered")), "{changes}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}
