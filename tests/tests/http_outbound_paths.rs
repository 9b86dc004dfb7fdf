//! Secrets in outbound URL paths (webhook tokens): a real axum server receives the real path,
//! the log line's `url` and the `endpoint` metric label carry the template or a masked path.

use axum::routing::any;
use observa::Context;
use observa::http::outbound::Client;
use serde_json::Value;
use std::net::SocketAddr;

mod log_support;

// Letters only, mixed case: no digit for an id rule to catch.
const SLACK_TOKEN: &str = "QwErTyUiOpAsDfGhJkLzXcVb";
const DISCORD_TOKEN: &str =
    "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kM7nP9qR1tU3wX5zA7cD9fG1jL3nO5rS7uV";

async fn server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    log_support::capture("outbound-path-tests", "info");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(any(move |uri: axum::http::Uri| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(uri.path().to_owned());
            "ok"
        }
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, rx)
}

fn line(id: &str) -> Value {
    let got = log_support::wait_lines(|v| v["correlation_id"] == id, |l| !l.is_empty());
    assert_eq!(got.len(), 1, "{got:?}");
    got[0].clone()
}

/// The `endpoint` labels of `external_api_requests_total` for `provider`, read from the
/// exposition lines (label values hold `{id}`, which the `prometheus-parse` crate cannot read).
fn endpoints(provider: &str) -> Vec<String> {
    let text = observa::metrics::render();
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("external_api_requests_total{endpoint=\""))
        .filter_map(|l| l.split_once("\","))
        .filter(|(_, rest)| rest.starts_with(&format!("provider=\"{provider}\",")))
        .map(|(e, _)| e.to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_tokens_in_paths_stay_out_of_lines_and_labels() {
    let (addr, mut seen) = server().await;
    let slack = Client::default().provider("slack");
    let discord = Client::default().provider("discord");
    let slack_path = format!("/services/T0000AAAA/B0000BBBB/{SLACK_TOKEN}");
    let discord_path = format!("/api/webhooks/123456789012345678/{DISCORD_TOKEN}");

    // No template: secret-looking segments are masked, ids and names kept.
    let r = Context::new()
        .with_correlation_id("hook-1")
        .wrap(slack.post(format!("http://{addr}{slack_path}?x=1")).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        seen.recv().await.unwrap(),
        slack_path,
        "the server gets the real path"
    );
    let l = line("hook-1");
    assert_eq!(
        l["url"],
        format!("http://{addr}/services/T0000AAAA/B0000BBBB/[REDACTED]?x=1")
    );
    assert_eq!(l["endpoint"], "/services/{id}/{id}/{id}");

    let r = Context::new()
        .with_correlation_id("hook-2")
        .wrap(discord.post(format!("http://{addr}{discord_path}")).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.recv().await.unwrap(), discord_path);
    let l = line("hook-2");
    assert_eq!(
        l["url"],
        format!("http://{addr}/api/webhooks/123456789012345678/[REDACTED]")
    );

    // A template replaces the path in the line and is the label.
    let r = Context::new()
        .with_correlation_id("hook-3")
        .wrap(
            slack
                .post(format!("http://{addr}{slack_path}"))
                .endpoint("/services/{team}/{bot}/{token}")
                .send(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.recv().await.unwrap(), slack_path);
    let l = line("hook-3");
    assert_eq!(
        l["url"],
        format!("http://{addr}/services/{{team}}/{{bot}}/{{token}}")
    );
    assert_eq!(l["endpoint"], "/services/{team}/{bot}/{token}");

    // Ordinary paths are left readable.
    let r = Context::new()
        .with_correlation_id("hook-4")
        .wrap(
            slack
                .get(format!(
                    "http://{addr}/v1/user_preferences_v2/3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e"
                ))
                .send(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let l = line("hook-4");
    assert_eq!(
        l["url"],
        format!("http://{addr}/v1/user_preferences_v2/3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e")
    );

    let logs = log_support::raw();
    let exposition = observa::metrics::render();
    for token in [SLACK_TOKEN, DISCORD_TOKEN] {
        for w in token.as_bytes().windows(8) {
            let piece = std::str::from_utf8(w).unwrap();
            assert!(
                !logs.contains(piece),
                "a piece of a token reached the logs: {logs}"
            );
            assert!(
                !exposition.contains(piece),
                "a piece of a token reached the metrics"
            );
        }
    }
    assert_eq!(
        endpoints("slack"),
        [
            "/services/{id}/{id}/{id}",
            "/services/{team}/{bot}/{token}",
            "/v1/{id}/{id}"
        ]
    );
    assert_eq!(endpoints("discord"), ["/api/webhooks/{id}/{id}"]);
}
