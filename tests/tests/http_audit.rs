//! `#[audit]` inside a request served through the observa layer: the record carries the
//! request's correlation id, client ip, user agent and a keyed session fingerprint.

use axum::{Router, extract::Path, routing::post};
use observa::audit;
use std::net::SocketAddr;

#[derive(Debug)]
struct AppError;

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("app error")
    }
}

impl From<observa::audit::AuditError> for AppError {
    fn from(_: observa::audit::AuditError) -> Self {
        AppError
    }
}

#[audit(action = "user.suspend", actor = "admin-9", target = id)]
async fn suspend(id: u64) -> Result<u64, AppError> {
    Ok(id)
}

async fn handler(Path(id): Path<u64>) -> String {
    match suspend(id).await {
        Ok(v) => v.to_string(),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn audit_records_take_the_request_source() {
    let dir = std::env::temp_dir().join(format!("observa-http-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("trail.db");
    observa::audit::install(observa::audit::AuditConfig::new(format!(
        "sqlite:{}",
        db.display()
    )))
    .unwrap();

    let app = Router::new()
        .route("/users/{id}/suspend", post(handler))
        .layer(observa::http::layer());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/users/41/suspend"))
        .header("x-request-id", "req-audit-41")
        .header("user-agent", "audit-test/1.0")
        .header("cookie", "theme=dark; session=sess-canary-value")
        // Spoofed: no proxy is declared, so the audit source is the socket peer.
        .header("x-forwarded-for", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "41");

    let c = rusqlite::Connection::open(&db).unwrap();
    let (ip, ua, fp, corr): (String, String, String, String) = c
        .query_row(
            "SELECT source_ip, user_agent, session_fp, correlation_id FROM audit_records \
             WHERE action = 'user.suspend' AND outcome = 'success'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(ip, "127.0.0.1");
    assert_eq!(ua, "audit-test/1.0");
    assert_eq!(corr, "req-audit-41");
    assert_eq!(fp.len(), 8);
    assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
    // The trail (main file and write-ahead log) holds the fingerprint, never the cookie.
    for f in [db.clone(), dir.join("trail.db-wal")] {
        if let Ok(raw) = std::fs::read(&f) {
            assert!(
                !String::from_utf8_lossy(&raw).contains("sess-canary"),
                "{f:?}"
            );
        }
    }

    // A hand-built context's trace context goes through the same parser: an all-zero or
    // version `ff` value gives no trace id; a valid one gives its trace id.
    for (i, (tp, want)) in [
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            None,
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            None,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 100 + i as u64;
        let got = observa::Context::new()
            .with_traceparent(tp)
            .wrap(suspend(id))
            .await;
        assert_eq!(got.unwrap(), id);
        let trace: Option<String> = c
            .query_row(
                "SELECT trace_id FROM audit_records WHERE action = 'user.suspend' \
                 AND outcome = 'success' AND target = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(trace.as_deref(), want, "{tp}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
