//! `#[audit]` end to end on a real SQLite file: write-ahead `attempted` record, outcome record,
//! panics, redacted changes, fail-closed and degrade policies, combined with `#[observed]`.

use observa::{audit, observed};
use std::fmt;
use std::sync::OnceLock;

static DB: OnceLock<std::path::PathBuf> = OnceLock::new();

fn setup() -> &'static std::path::Path {
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("observa-audit-macro-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trail.db");
        observa::audit::install(observa::audit::AuditConfig::new(format!(
            "sqlite:{}",
            path.display()
        )))
        .expect("open audit store");
        path
    })
}

#[derive(Debug)]
enum AppError {
    Denied,
    Audit(observa::audit::AuditError),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Denied => f.write_str("denied"),
            AppError::Audit(e) => write!(f, "audit unavailable: {e}"),
        }
    }
}

impl From<observa::audit::AuditError> for AppError {
    fn from(e: observa::audit::AuditError) -> Self {
        AppError::Audit(e)
    }
}

struct Admin {
    id: String,
}

#[derive(observa::Redact)]
struct Profile {
    email_verified: bool,
    password: String,
}

#[audit(action = "user.suspend", actor = admin.id, target = user_id, severity = "high", reason = "tos")]
fn suspend_user(admin: &Admin, user_id: u64, deny: bool) -> Result<u64, AppError> {
    if deny {
        Err(AppError::Denied)
    } else {
        Ok(user_id)
    }
}

#[audit(action = "user.password_change", actor = "self-service", target = user_id,
        changes = (before, after))]
fn change_password(user_id: u64, before: &Profile, after: &Profile) -> Result<(), AppError> {
    let _ = (before, after);
    Ok(())
}

#[audit(action = "report.export", actor = "job", policy = "degrade_and_alert")]
fn export_report(fail: bool) -> usize {
    if fail {
        panic!("export crashed");
    }
    3
}

#[observed(event = "orders.refund", tenant)]
#[audit(action = "order.refund", actor = "support-7", target = order_id)]
async fn refund(tenant: &str, order_id: u64) -> Result<u64, AppError> {
    let _ = tenant;
    tokio::task::yield_now().await;
    Ok(order_id)
}

#[test]
fn request_source_in_scope_is_recorded() {
    let db = setup();
    let ctx = observa::Context::new()
        .with_correlation_id("req-audit-src")
        .with_source(observa::RequestSource {
            client_ip: Some("203.0.113.9".into()),
            user_agent: Some("curl/8".into()),
            session_fingerprint: Some("fp1234ab".into()),
        });
    ctx.scope(|| {
        suspend_user(
            &Admin {
                id: "admin-2".into(),
            },
            77,
            false,
        )
    })
    .unwrap();
    let c = rusqlite::Connection::open(db).unwrap();
    let (ip, ua, fp, corr): (String, String, String, String) = c
        .query_row(
            "SELECT source_ip, user_agent, session_fp, correlation_id FROM audit_records \
             WHERE action = 'user.suspend' AND target = '77' AND outcome = 'success'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (ip.as_str(), ua.as_str(), fp.as_str()),
        ("203.0.113.9", "curl/8", "fp1234ab")
    );
    assert_eq!(corr, "req-audit-src");
}

#[audit(action = "token.rotate", actor = "ops", target = api_token)]
fn rotate(api_token: &str) -> Result<usize, AppError> {
    Ok(api_token.len())
}

#[test]
fn a_sensitive_target_name_is_masked() {
    let db = setup();
    assert_eq!(rotate("tok-canary-123").unwrap(), 14);
    let r = rows(db, "token.rotate");
    assert_eq!(r[1].4.as_deref(), Some(observa::REDACTED));
    for f in [db.to_path_buf(), db.with_extension("db-wal")] {
        if let Ok(raw) = std::fs::read(&f) {
            assert!(
                !String::from_utf8_lossy(&raw).contains("tok-canary"),
                "{f:?}"
            );
        }
    }
}

type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn rows(path: &std::path::Path, action: &str) -> Vec<Row> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare(
            "SELECT seq, outcome, actor, severity, target, error_class, changes, tenant \
             FROM audit_records WHERE action = ?1 ORDER BY seq",
        )
        .unwrap();
    st.query_map([action], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn attempted_then_outcome_for_success_and_failure() {
    let db = setup();
    let admin = Admin {
        id: "admin-1".into(),
    };
    assert_eq!(suspend_user(&admin, 42, false).unwrap(), 42);
    assert!(matches!(
        suspend_user(&admin, 43, true),
        Err(AppError::Denied)
    ));
    let r = rows(db, "user.suspend");
    assert_eq!(r.len(), 4, "{r:?}");
    assert_eq!((r[0].1.as_str(), r[1].1.as_str()), ("attempted", "success"));
    assert_eq!((r[2].1.as_str(), r[3].1.as_str()), ("attempted", "failure"));
    assert!(r[0].0 < r[1].0, "the attempt is written before the outcome");
    assert_eq!(r[1].2, "admin-1");
    assert_eq!(r[1].3, "high");
    assert_eq!(r[1].4.as_deref(), Some("42"));
    assert_eq!(r[3].5.as_deref(), Some("AppError"));
    observa::audit::verify(&format!("sqlite:{}", db.display())).expect("trail verifies");
}

#[test]
fn changes_are_stored_redacted() {
    let db = setup();
    let before = Profile {
        email_verified: false,
        password: "old-canary-pw".into(),
    };
    let after = Profile {
        email_verified: true,
        password: "new-canary-pw".into(),
    };
    change_password(7, &before, &after).unwrap();
    let r = rows(db, "user.password_change");
    let changes = r.last().unwrap().6.clone().unwrap();
    assert!(!changes.contains("canary"), "{changes}");
    let v: serde_json::Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(v["before"]["email_verified"], false);
    assert_eq!(v["after"]["email_verified"], true);
    assert_eq!(v["after"]["password"], observa::REDACTED);
}

#[test]
fn a_panic_is_recorded_as_failure_and_resumed() {
    let db = setup();
    assert_eq!(export_report(false), 3);
    let err = std::panic::catch_unwind(|| export_report(true)).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"export crashed"));
    let r = rows(db, "report.export");
    let outcomes: Vec<&str> = r.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(outcomes, ["attempted", "success", "attempted", "failure"]);
    assert_eq!(r[3].5.as_deref(), Some("panic"));
}

#[tokio::test]
async fn combined_with_observed_carries_the_tenant() {
    let db = setup();
    assert_eq!(refund("acme", 9).await.unwrap(), 9);
    let r = rows(db, "order.refund");
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].1, "success");
    assert_eq!(r[1].7.as_deref(), Some("acme"), "tenant from the context");
}
