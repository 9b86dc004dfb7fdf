//! The outbound client against a local axum server that echoes what it received: the real
//! values reach the server, the logs carry only masked ones, the context is propagated.

use axum::Json;
use axum::routing::any;
use observa::Context;
use observa::http::outbound::Client;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

mod log_support;

fn setup() {
    log_support::capture("outbound-tests", "info");
}

async fn echo(req: axum::extract::Request) -> Json<Value> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    Json(json!({
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn echo_server() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, axum::Router::new().fallback(any(echo)))
            .await
            .unwrap()
    });
    addr
}

fn lines_where(f: impl Fn(&Value) -> bool) -> Vec<Value> {
    log_support::wait_lines(f, |l| !l.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_masks_logs_but_sends_real_values_and_propagates_context() {
    setup();
    let addr = echo_server().await;
    let client = Client::new(reqwest::Client::new()).provider("echo");
    let url = format!(
        "http://u:CANARYuserinfo@{addr}/v1/users/12345?token=CANARYtok&page=2&code=CANARYcode&X-Amz-Signature=CANARYsig#CANARYfrag"
    );
    let ctx = Context::new()
        .with_correlation_id("out-1")
        .with_tenant_id("acme");
    let resp = ctx
        .wrap(async {
            client
                .post(&url)
                .header("authorization", "Bearer CANARYhdr")
                .header("x-api-key", "CANARYkey")
                .header("content-type", "application/json")
                .body(r#"{"name":"ok","password":"CANARYpw"}"#)
                .send()
                .await
        })
        .await
        .expect("call");
    assert_eq!(resp.status(), 200);
    let got: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    // The server received the real values and the context.
    assert!(got["uri"].as_str().unwrap().contains("token=CANARYtok"));
    assert_eq!(got["headers"]["authorization"], "Bearer CANARYhdr");
    assert!(got["body"].as_str().unwrap().contains("CANARYpw"));
    assert_eq!(got["headers"]["x-request-id"], "out-1");
    let tp = got["headers"]["traceparent"].as_str().unwrap();
    assert!(observa::http::TraceParent::parse(tp).is_some(), "{tp}");

    let lines = lines_where(|v| v["event"] == "external.request.completed");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["correlation_id"], "out-1");
    assert_eq!(l["tenant_id"], "acme");
    assert_eq!(l["provider"], "echo");
    assert_eq!(l["endpoint"], "/v1/users/{id}");
    assert_eq!(l["method"], "POST");
    assert_eq!(l["status"], 200);
    assert_eq!(
        l["url"],
        format!(
            "http://{addr}/v1/users/12345?token=[REDACTED]&page=2&code=[REDACTED]&X-Amz-Signature=[REDACTED]"
        )
    );
    // Development: headers and a body preview, masked.
    assert_eq!(l["request_headers"]["authorization"], "[REDACTED]");
    assert_eq!(l["request_headers"]["x-api-key"], "[REDACTED]");
    assert!(
        l["request_body"]
            .as_str()
            .unwrap()
            .contains("\"name\":\"ok\"")
    );
    let logs = log_support::raw();
    assert!(
        !logs.contains("CANARY"),
        "a secret reached the logs: {logs}"
    );

    let text = observa::metrics::render();
    assert!(
        text.contains(
            "external_api_requests_total{endpoint=\"/v1/users/{id}\",provider=\"echo\",status_code=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "external_api_duration_seconds_count{endpoint=\"/v1/users/{id}\",provider=\"echo\"} 1"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_is_one_failed_line_without_the_query() {
    setup();
    // A port nothing listens on: bind, note it, close.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let client = Client::default().provider("down");
    let err = Context::new()
        .with_correlation_id("out-2")
        .wrap(
            client
                .get(format!("http://{addr}/v2/pay?secret=CANARYdown"))
                .endpoint("/v2/pay")
                .send(),
        )
        .await
        .expect_err("nothing listens");
    assert!(err.is_connect());
    let lines = lines_where(|v| v["correlation_id"] == "out-2");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event"], "external.request.failed");
    assert_eq!(lines[0]["level"], "error");
    assert_eq!(lines[0]["error_type"], "connect");
    assert!(lines[0].get("status").is_none());
    assert!(!log_support::raw().contains("CANARYdown"));
    let text = observa::metrics::render();
    assert!(text.contains(
        "external_api_requests_total{endpoint=\"/v2/pay\",provider=\"down\",status_code=\"error\"} 1"
    ));
}
