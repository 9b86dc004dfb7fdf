//! WebSocket lifecycles end to end: a real axum server on 127.0.0.1 behind observa's request
//! layer, a real WebSocket client (tokio-tungstenite), the real log pipeline captured and parsed
//! back, the exposition read for the gauge and counters.

use axum::Router;
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod log_support;

/// In message bodies, close reasons and tokens; must appear in no line.
const CANARY: &str = "CANARY-ws-9f27c1e4";
const GOOD_TOKEN: &str = "tok-good";

static ADDR: OnceLock<SocketAddr> = OnceLock::new();

fn server() -> SocketAddr {
    // Production mode: fields of events observa does not own are filtered to an allowlist,
    // so this also proves the lifecycle lines are observa's own (their fields survive).
    log_support::capture_config(
        observa::Config::new("ws-tests")
            .with_environment("production")
            .with_log_level("debug"),
    );
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = Router::new()
                    .route("/ws/chat", get(chat))
                    .route("/ws/limited", get(limited))
                    .route("/ws/dropped", get(dropped))
                    .layer(observa::http::layer());
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(l.local_addr().expect("addr")).expect("send");
                axum::serve(l, app).await.expect("serve");
            });
        });
        rx.recv().expect("addr")
    })
}

/// Authenticates with the first text message, then echoes until the client closes.
async fn chat(ws: WebSocketUpgrade) -> Response {
    observa::lifecycle::ws::upgrade(ws, "chat", |mut socket| async move {
        let Some(Ok(Message::Text(first))) = socket.recv().await else {
            return;
        };
        match first.as_str().strip_prefix("auth:") {
            Some(GOOD_TOKEN) => socket
                .connection()
                .authenticated("user-42", Some("tenant-7")),
            _ => {
                socket.connection().auth_failed("invalid_token");
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 4401,
                        reason: format!("bad token {CANARY}").into(),
                    })))
                    .await;
                return;
            }
        }
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                Message::Close(_) => break,
                m @ (Message::Text(_) | Message::Binary(_)) => {
                    // A line of the application's own: it carries the connection id too.
                    tracing::info!(event = "chat.echo");
                    if socket.send(m).await.is_err() {
                        break;
                    }
                }
                _ => {}
            }
        }
    })
}

/// Three messages per connection, then a rate-limit close from the server.
async fn limited(ws: WebSocketUpgrade) -> Response {
    observa::lifecycle::ws::upgrade(ws, "limited", |mut socket| async move {
        let mut n = 0;
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            n += 1;
            if n > 3 {
                socket.connection().rate_limited("messages");
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1008,
                        reason: "slow down".into(),
                    })))
                    .await;
                break;
            }
        }
    })
}

/// Reads until the peer is gone (the client drops the TCP connection without a close frame).
async fn dropped(ws: WebSocketUpgrade) -> Response {
    observa::lifecycle::ws::upgrade(ws, "dropped", |mut socket| async move {
        while let Some(Ok(_)) = socket.recv().await {}
    })
}

fn gauge(endpoint: &str) -> Option<f64> {
    let key = format!("ws_connections_active{{endpoint=\"{endpoint}\"}} ");
    observa::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(&key).and_then(|v| v.trim().parse().ok()))
}

fn counter_value(prefix: &str) -> f64 {
    observa::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(prefix).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn wait_gauge(endpoint: &str, want: f64) -> Option<f64> {
    for _ in 0..500 {
        if gauge(endpoint) == Some(want) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    gauge(endpoint)
}

fn events(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The `ws.connected` line of the connection opened by the upgrade with request id `rid`.
fn connected_with(rid: &str) -> Value {
    let got = log_support::wait_lines(
        |l| l["event"] == "ws.connected" && l["correlation_id"] == rid,
        |l| !l.is_empty(),
    );
    got.into_iter()
        .next()
        .unwrap_or_else(|| panic!("no ws.connected for {rid}:\n{}", log_support::raw()))
}

async fn connect(
    path: &str,
    rid: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let addr = server();
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("x-request-id", rid.parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_logged_from_connect_to_close_without_content() {
    let rid = "ws-test-lifecycle-1";
    let mut ws = connect("/ws/chat", rid).await;
    ws.send(TMessage::Text(format!("auth:{GOOD_TOKEN}").into()))
        .await
        .expect("auth");
    let text = format!("hello {CANARY}");
    ws.send(TMessage::Text(text.clone().into()))
        .await
        .expect("text");
    assert_eq!(
        ws.next().await.expect("echo").expect("echo"),
        TMessage::Text(text.clone().into())
    );
    ws.send(TMessage::Binary(CANARY.as_bytes().to_vec().into()))
        .await
        .expect("binary");
    ws.next().await.expect("echo").expect("echo");
    // While open, the gauge counts it.
    assert_eq!(gauge("chat"), Some(1.0), "{}", observa::metrics::render());
    ws.close(Some(TCloseFrame {
        code: CloseCode::Normal,
        reason: CANARY.into(),
    }))
    .await
    .expect("close");
    while ws.next().await.is_some() {}

    let conn = connected_with(rid)["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();
    assert!(conn.starts_with("conn_") && conn.len() == 21, "{conn}");
    let lines = log_support::wait_lines(
        |l| l["connection_id"] == conn.as_str(),
        |l| l.iter().any(|l| l["event"] == "ws.closed"),
    );
    let ev = events(&lines);
    assert_eq!(
        ev,
        [
            "ws.connected",
            "ws.message_received",
            "ws.authenticated",
            "ws.message_received",
            "chat.echo",
            "ws.message_sent",
            "ws.message_received",
            "chat.echo",
            "ws.message_sent",
            "ws.message_received",
            "ws.closed",
        ],
        "{lines:#?}"
    );
    // Every line of the connection carries the upgrade's correlation id; after
    // authentication, the user and tenant.
    for l in &lines {
        assert_eq!(l["correlation_id"], rid, "{l}");
        assert_eq!(
            l["target"]
                .as_str()
                .map(|t| t.starts_with("observa::ws") || t == "lifecycle_ws"),
            Some(true),
            "{l}"
        );
    }
    for l in &lines[2..] {
        assert_eq!(l["user_id"], "user-42", "{l}");
        assert_eq!(l["tenant_id"], "tenant-7", "{l}");
    }
    let text_in = &lines[3];
    assert_eq!(text_in["message_type"], "text");
    assert_eq!(text_in["message_length"], text.len());
    assert_eq!(text_in["level"], "debug");
    let bin_out = &lines[8];
    assert_eq!(bin_out["event"], "ws.message_sent");
    assert_eq!(bin_out["message_type"], "binary");
    assert_eq!(bin_out["message_length"], CANARY.len());
    let close_in = &lines[9];
    assert_eq!(close_in["message_type"], "close");
    let closed = &lines[10];
    assert_eq!(closed["level"], "info");
    assert_eq!(closed["close_code"], 1000);
    assert_eq!(closed["closed_by"], "client");
    assert_eq!(closed["endpoint"], "chat");
    assert_eq!(closed["messages_in"], 4);
    assert_eq!(closed["messages_out"], 2);
    assert!(closed["duration_ms"].as_f64().is_some(), "{closed}");
    assert!(closed.get("reason").is_none(), "{closed}");

    assert_eq!(wait_gauge("chat", 0.0).await, Some(0.0));
    assert!(
        counter_value("ws_messages_total{direction=\"in\",endpoint=\"chat\",type=\"text\"} ")
            >= 2.0,
        "{}",
        observa::metrics::render()
    );
    let raw = log_support::raw();
    assert!(!raw.contains(CANARY), "content leaked:\n{raw}");
    assert!(!raw.contains("hello"), "content leaked:\n{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_an_auth_failure_without_the_token() {
    let rid = "ws-test-auth-1";
    let mut ws = connect("/ws/chat", rid).await;
    let token = format!("auth:{CANARY}");
    ws.send(TMessage::Text(token.into())).await.expect("auth");
    let mut code = None;
    while let Some(Ok(m)) = ws.next().await {
        if let TMessage::Close(Some(f)) = m {
            code = Some(u16::from(f.code));
        }
    }
    assert_eq!(code, Some(4401));
    let conn = connected_with(rid)["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let lines = log_support::wait_lines(
        |l| l["connection_id"] == conn.as_str(),
        |l| l.iter().any(|l| l["event"] == "ws.closed"),
    );
    let failed = lines
        .iter()
        .find(|l| l["event"] == "ws.auth_failed")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(failed["level"], "warn");
    assert_eq!(failed["reason"], "invalid_token");
    assert!(failed.get("user_id").is_none());
    let closed = lines
        .iter()
        .find(|l| l["event"] == "ws.closed")
        .expect("closed");
    assert_eq!(closed["close_code"], 4401);
    assert_eq!(closed["closed_by"], "server");
    assert!(!log_support::raw().contains(CANARY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_hits_are_logged_and_counted() {
    let before = counter_value("ws_rate_limited_total{endpoint=\"limited\",scope=\"messages\"} ");
    let rid = "ws-test-limit-1";
    let mut ws = connect("/ws/limited", rid).await;
    let mut code = None;
    for i in 0..6 {
        if ws
            .send(TMessage::Text(format!("m{i}").into()))
            .await
            .is_err()
        {
            break;
        }
    }
    while let Some(Ok(m)) = ws.next().await {
        if let TMessage::Close(Some(f)) = m {
            code = Some(u16::from(f.code));
        }
    }
    assert_eq!(code, Some(1008));
    let conn = connected_with(rid)["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let lines = log_support::wait_lines(
        |l| l["connection_id"] == conn.as_str(),
        |l| l.iter().any(|l| l["event"] == "ws.closed"),
    );
    let hit = lines
        .iter()
        .find(|l| l["event"] == "ws.rate_limited")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(hit["level"], "warn");
    assert_eq!(hit["scope"], "messages");
    let closed = lines
        .iter()
        .find(|l| l["event"] == "ws.closed")
        .expect("closed");
    assert_eq!(closed["close_code"], 1008);
    assert_eq!(closed["closed_by"], "server");
    assert_eq!(
        counter_value("ws_rate_limited_total{endpoint=\"limited\",scope=\"messages\"} "),
        before + 1.0
    );
    assert_eq!(wait_gauge("limited", 0.0).await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_without_close_frame_still_closes_and_the_gauge_returns() {
    let rid = "ws-test-drop-1";
    let mut ws = connect("/ws/dropped", rid).await;
    ws.send(TMessage::Ping(vec![1, 2, 3].into()))
        .await
        .expect("ping");
    let conn = connected_with(rid)["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(wait_gauge("dropped", 1.0).await, Some(1.0));
    // Drop the TCP stream: no close frame.
    drop(ws);
    let lines = log_support::wait_lines(
        |l| l["connection_id"] == conn.as_str(),
        |l| l.iter().any(|l| l["event"] == "ws.closed"),
    );
    let closed = lines
        .iter()
        .find(|l| l["event"] == "ws.closed")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(closed["closed_by"], "none");
    assert!(closed.get("close_code").is_none(), "{closed}");
    assert_eq!(wait_gauge("dropped", 0.0).await, Some(0.0));
    let ping = lines
        .iter()
        .find(|l| l["event"] == "ws.message_received")
        .expect("ping line");
    assert_eq!(ping["message_type"], "ping");
    assert_eq!(ping["message_length"], 3);
}
