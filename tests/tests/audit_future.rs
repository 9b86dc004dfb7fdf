//! `#[audit]` on functions that return a future without being `async fn`: the `attempted`
//! record is written when the function is called, the outcome when the future completes
//! (failure on `Err`, `panic` when a poll panics, `cancelled` when the future is dropped),
//! alone and combined with `#[observed]` in either order. Real SQLite file.

use observa::{audit, observed};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

static DB: OnceLock<std::path::PathBuf> = OnceLock::new();

fn setup() -> &'static std::path::Path {
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("observa-audit-future-{}", std::process::id()));
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

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Waits until `gate` is opened, so the test can look at the trail while the future is pending.
async fn wait(gate: tokio::sync::oneshot::Receiver<()>) {
    let _ = gate.await;
}

#[audit(action = "fut.impl", actor = "ops", target = id)]
fn impl_future(
    id: u64,
    deny: bool,
    gate: tokio::sync::oneshot::Receiver<()>,
) -> impl Future<Output = Result<u64, AppError>> {
    async move {
        wait(gate).await;
        if deny { Err(AppError::Denied) } else { Ok(id) }
    }
}

#[audit(action = "fut.pinbox", actor = "ops", target = id)]
fn pin_box_future(
    id: u64,
    deny: bool,
    gate: tokio::sync::oneshot::Receiver<()>,
) -> Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send>> {
    Box::pin(async move {
        wait(gate).await;
        if deny { Err(AppError::Denied) } else { Ok(id) }
    })
}

#[audit(future, action = "fut.alias", actor = "ops", target = id)]
fn alias_future(
    id: u64,
    deny: bool,
    gate: tokio::sync::oneshot::Receiver<()>,
) -> BoxFuture<'static, Result<u64, AppError>> {
    Box::pin(async move {
        wait(gate).await;
        if deny { Err(AppError::Denied) } else { Ok(id) }
    })
}

#[audit(action = "fut.panics", actor = "ops", policy = "degrade_and_alert")]
fn panicking_future(gate: tokio::sync::oneshot::Receiver<()>) -> impl Future<Output = u32> {
    async move {
        wait(gate).await;
        panic!("poll crashed");
    }
}

#[observed(future, event = "fut.observed_above", tenant)]
#[audit(future, action = "fut.observed_above", actor = "ops", target = id)]
fn observed_above(
    tenant: &str,
    id: u64,
    gate: tokio::sync::oneshot::Receiver<()>,
) -> BoxFuture<'static, Result<u64, AppError>> {
    let _ = tenant;
    Box::pin(async move {
        wait(gate).await;
        Ok(id)
    })
}

#[audit(action = "fut.observed_below", actor = "ops", target = id)]
#[observed(event = "fut.observed_below", tenant)]
fn observed_below(
    tenant: &str,
    id: u64,
    gate: tokio::sync::oneshot::Receiver<()>,
) -> impl Future<Output = Result<u64, AppError>> + Send {
    let _ = tenant;
    async move {
        wait(gate).await;
        Ok(id)
    }
}

/// `(outcome, target, error_class, tenant)`.
type Row = (String, Option<String>, Option<String>, Option<String>);

fn outcomes(path: &std::path::Path, action: &str) -> Vec<Row> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare(
            "SELECT outcome, target, error_class, tenant FROM audit_records \
             WHERE action = ?1 ORDER BY seq",
        )
        .unwrap();
    st.query_map([action], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn names(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.0.as_str()).collect()
}

/// The outcome is written by a detached writer when the future is dropped; wait for it
/// (bounded by a number of tries, no timing assertion).
async fn eventually(path: &std::path::Path, action: &str, n: usize) -> Vec<Row> {
    for _ in 0..500 {
        let r = outcomes(path, action);
        if r.len() >= n {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    outcomes(path, action)
}

/// Calls `f` twice (success, then `Err`), checking that only `attempted` is on the trail while
/// each future is pending and the outcome once it completes.
async fn check<F, Fut>(action: &str, f: F)
where
    F: Fn(u64, bool, tokio::sync::oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = Result<u64, AppError>>,
{
    let db = setup();
    let (open, gate) = tokio::sync::oneshot::channel();
    let fut = f(5, false, gate);
    assert_eq!(
        names(&outcomes(db, action)),
        ["attempted"],
        "{action}: written at the call"
    );
    open.send(()).unwrap();
    assert_eq!(fut.await.unwrap(), 5);
    let r = outcomes(db, action);
    assert_eq!(names(&r), ["attempted", "success"], "{action}");
    assert_eq!(r[1].1.as_deref(), Some("5"));

    let (open, gate) = tokio::sync::oneshot::channel();
    let fut = f(6, true, gate);
    assert_eq!(
        names(&outcomes(db, action)),
        ["attempted", "success", "attempted"]
    );
    open.send(()).unwrap();
    assert!(matches!(fut.await, Err(AppError::Denied)));
    let r = outcomes(db, action);
    assert_eq!(
        names(&r),
        ["attempted", "success", "attempted", "failure"],
        "{action}"
    );
    assert_eq!(r[3].2.as_deref(), Some("AppError"));

    // Dropped before it completes: recorded as a `cancelled` failure.
    let (_open, gate) = tokio::sync::oneshot::channel();
    drop(f(7, false, gate));
    let r = eventually(db, action, 6).await;
    assert_eq!(
        names(&r),
        [
            "attempted",
            "success",
            "attempted",
            "failure",
            "attempted",
            "failure"
        ],
        "{action}"
    );
    assert_eq!(r[5].2.as_deref(), Some("cancelled"));
    observa::audit::verify(&format!("sqlite:{}", db.display())).expect("trail verifies");
}

#[tokio::test]
async fn impl_future_outcome_when_it_completes() {
    check("fut.impl", impl_future).await;
}

#[tokio::test]
async fn pin_box_dyn_future_outcome_when_it_completes() {
    check("fut.pinbox", pin_box_future).await;
}

#[tokio::test]
async fn boxed_future_alias_with_future_outcome_when_it_completes() {
    check("fut.alias", alias_future).await;
}

#[tokio::test]
async fn a_panicking_poll_is_recorded_as_panic() {
    let db = setup();
    let (open, gate) = tokio::sync::oneshot::channel();
    let handle = tokio::spawn(panicking_future(gate));
    assert_eq!(names(&outcomes(db, "fut.panics")), ["attempted"]);
    open.send(()).unwrap();
    let err = handle.await.unwrap_err();
    assert!(err.is_panic());
    let r = outcomes(db, "fut.panics");
    assert_eq!(names(&r), ["attempted", "failure"]);
    assert_eq!(r[1].2.as_deref(), Some("panic"));
}

#[tokio::test]
async fn combined_with_observed_in_either_order() {
    let db = setup();
    for action in ["fut.observed_above", "fut.observed_below"] {
        let (open, gate) = tokio::sync::oneshot::channel();
        let fut: Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send>> =
            if action == "fut.observed_above" {
                observed_above("acme", 11, gate)
            } else {
                Box::pin(observed_below("acme", 11, gate))
            };
        let r = outcomes(db, action);
        assert_eq!(names(&r), ["attempted"], "{action}");
        assert_eq!(
            r[0].3.as_deref(),
            Some("acme"),
            "{action}: tenant of the call"
        );
        open.send(()).unwrap();
        assert_eq!(fut.await.unwrap(), 11);
        let r = outcomes(db, action);
        assert_eq!(names(&r), ["attempted", "success"], "{action}");
        assert_eq!(r[1].3.as_deref(), Some("acme"), "{action}");
    }
}
