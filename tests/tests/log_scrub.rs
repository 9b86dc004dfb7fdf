//! Error text and free text are scrubbed of URL credentials: a real reqwest error against a
//! closed port on 127.0.0.1 carries the whole URL (user info and query included) in its message;
//! no log line may.

mod log_support;

use log_support::*;
use observa::observed;

const PASSWORD: &str = "pw-hunter2-pw";
const API_KEY: &str = "SECRETapikey9876";
const TOKEN: &str = "tok-5566778899";

/// A port nobody listens on: bound, then released.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn secret_url(port: u16) -> String {
    format!(
        "http://alice:{PASSWORD}@127.0.0.1:{port}/v1/charges?page=2&api_key={API_KEY}&access_token={TOKEN}"
    )
}

async fn failing_request(port: u16) -> reqwest::Error {
    let e = reqwest::Client::new()
        .get(secret_url(port))
        .send()
        .await
        .unwrap_err();
    // The premise: reqwest's own message carries the secrets.
    let text = e.to_string();
    assert!(text.contains(API_KEY) && text.contains(TOKEN), "{text}");
    e
}

#[observed(event = "t.scrub.fetch")]
async fn fetch(url: &str) -> Result<u16, reqwest::Error> {
    let r = reqwest::Client::new().get(url).send().await?;
    Ok(r.status().as_u16())
}

fn assert_clean(text: &str) {
    for s in [PASSWORD, API_KEY, TOKEN, "alice:"] {
        assert!(!text.contains(s), "{s:?} leaked in\n{text}");
    }
}

#[tokio::test]
async fn observed_error_of_a_failed_request_is_scrubbed() {
    capture("scrub", "info");
    let port = closed_port();
    let e = fetch(&secret_url(port)).await.unwrap_err();
    assert!(e.to_string().contains(API_KEY), "premise: {e}");
    let lines = wait_lines(|v| v["event"] == "t.scrub.fetch.failed", |l| !l.is_empty());
    assert_eq!(lines.len(), 1, "{}", raw());
    assert_eq!(lines[0]["level"], "error");
    let err = lines[0]["error"].as_str().unwrap();
    // Scrubbed, not dropped: the endpoint and the harmless parameters stay.
    assert!(
        err.contains(&format!(
            "127.0.0.1:{port}/v1/charges?page=2&api_key=[REDACTED]&access_token=[REDACTED]"
        )),
        "{err}"
    );
    assert_clean(&raw());
}

#[tokio::test]
async fn foreign_error_fields_and_messages_are_scrubbed() {
    capture("scrub", "info");
    let e = failing_request(closed_port()).await;
    tracing::error!(error = %e, marker = "scrub-display", "request failed");
    tracing::error!(error = &e as &dyn std::error::Error, marker = "scrub-error");
    tracing::warn!(marker = "scrub-debug", detail = ?e);
    tracing::info!(marker = "scrub-message", "retrying {}", secret_url(1));
    for m in [
        "scrub-display",
        "scrub-error",
        "scrub-debug",
        "scrub-message",
    ] {
        let line = line_with(m);
        assert_clean(&line);
        assert!(line.contains("[REDACTED]"), "{line}");
    }
    assert_clean(&raw());
}

#[tokio::test]
async fn audit_failure_messages_are_scrubbed() {
    let e = failing_request(closed_port()).await;
    match observa::audit::AuditOutcome::from_error(&e) {
        observa::audit::AuditOutcome::Failure { message, .. } => {
            assert_clean(&message);
            assert!(message.contains("api_key=[REDACTED]"), "{message}");
        }
        o => panic!("{o:?}"),
    }
}

#[observed(event = "t.scrub.recorded", fields(endpoint))]
fn call(endpoint: &str) -> usize {
    endpoint.len()
}

#[test]
fn recorded_text_fields_are_scrubbed() {
    capture("scrub", "info");
    call(&secret_url(8080));
    let lines = wait_lines(
        |v| v["event"] == "t.scrub.recorded.completed",
        |l| !l.is_empty(),
    );
    let e = lines[0]["endpoint"].as_str().unwrap();
    assert_eq!(
        e,
        "http://127.0.0.1:8080/v1/charges?page=2&api_key=[REDACTED]&access_token=[REDACTED]"
    );
    assert_clean(&raw());
}
