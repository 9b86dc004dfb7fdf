//! A server span per request when spans are exported: a real axum server with the request
//! layer, a real client, a local OTLP collector whose payloads are decoded with the official
//! protobuf definitions, and the request lines parsed back.

mod otlp_support;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use observa::observed;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp_support::{attr, hex};
use serde_json::Value;

#[observed(event = "t.span_lookup")]
async fn lookup(id: u64) -> u64 {
    tokio::task::yield_now().await;
    id * 2
}

async fn order(Path(id): Path<u64>) -> String {
    lookup(id).await.to_string()
}

/// Calls this server's `/orders/{id}` through the outbound client.
async fn call(Path(port): Path<u16>) -> String {
    let client = observa::http::outbound::Client::default().provider("self");
    let r = client
        .get(format!("http://127.0.0.1:{port}/orders/4"))
        .send()
        .await
        .expect("outbound call");
    r.text().await.unwrap_or_default()
}

async fn broken() -> axum::http::StatusCode {
    axum::http::StatusCode::INTERNAL_SERVER_ERROR
}

fn line(logs: &observa::MemoryWriter, id: &str) -> Value {
    logs.contents()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["correlation_id"] == id
                && (v["event"] == "request.completed" || v["event"] == "request.failed")
        })
        .unwrap_or_else(|| panic!("no request line for {id}"))
}

fn by_trace<'a>(spans: &'a [Span], trace_id: &str, name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| hex(&s.trace_id) == trace_id && s.name == name)
        .unwrap_or_else(|| panic!("no {name} span in trace {trace_id}"))
}

#[test]
fn server_span_per_request_continues_or_starts_the_trace() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (collector, bodies) = otlp_support::collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("http-span").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{collector}"));
    cfg.otlp_sample_ratio = 1.0;
    let guard = observa::init(cfg).unwrap();

    let app = Router::new()
        .route("/orders/{id}", get(order))
        .route("/broken", get(broken))
        .route("/call/{port}", get(call))
        .layer(observa::http::layer());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    const T_CALL: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
    let parent = "00f067aa0ba902b7";
    let c = reqwest::Client::new();
    rt.block_on(async {
        let r = c
            .get(format!("http://{addr}/orders/21"))
            .header("traceparent", format!("00-{trace_id}-{parent}-01"))
            .header("x-request-id", "span-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "42");
        let r = c
            .get(format!("http://{addr}/orders/5"))
            .header("x-request-id", "span-2")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "10");
        let r = c
            .get(format!("http://{addr}/broken"))
            .header("x-request-id", "span-3")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let r = c
            .get(format!("http://{addr}/call/{}", addr.port()))
            .header("traceparent", format!("00-{T_CALL}-{parent}-01"))
            .header("x-request-id", "span-4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "8");
    });
    drop(guard); // flushes the batch
    let spans = otlp_support::spans(&bodies);

    // Continued: the server span's parent is the caller's, the #[observed] span its child,
    // the request line in the same trace with the server span's id.
    let server = by_trace(&spans, trace_id, "GET /orders/{id}");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(hex(&server.parent_span_id), parent);
    assert_eq!(
        attr(&server.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        attr(&server.attributes, "http.route").as_deref(),
        Some("/orders/{id}")
    );
    assert_eq!(
        attr(&server.attributes, "url.path").as_deref(),
        Some("/orders/21")
    );
    assert_eq!(
        attr(&server.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    let inner = by_trace(&spans, trace_id, "t.span_lookup");
    assert_eq!(inner.parent_span_id, server.span_id);
    let l = line(&logs, "span-1");
    assert_eq!(l["trace_id"], trace_id);
    assert_eq!(l["span_id"], hex(&server.span_id));

    // Started here: a root server span, the observed call and the line share its trace id.
    let l = line(&logs, "span-2");
    let started = l["trace_id"]
        .as_str()
        .expect("a trace id on the line")
        .to_owned();
    assert_ne!(started, trace_id);
    let server = by_trace(&spans, &started, "GET /orders/{id}");
    assert!(server.parent_span_id.is_empty(), "a root span");
    assert_eq!(l["span_id"], hex(&server.span_id));
    let inner = by_trace(&spans, &started, "t.span_lookup");
    assert_eq!(inner.parent_span_id, server.span_id);

    // A 500: the server span's status is an error.
    let l = line(&logs, "span-3");
    let t = l["trace_id"].as_str().expect("trace id").to_owned();
    let server = by_trace(&spans, &t, "GET /broken");
    assert_eq!(
        server.status.clone().unwrap_or_default().code,
        StatusCode::Error as i32
    );
    assert_eq!(
        attr(&server.attributes, "http.response.status_code").as_deref(),
        Some("500")
    );

    // Outbound: a client span under the caller's server span; the callee's server span
    // continues the client span (the injected traceparent names it).
    let outer = by_trace(&spans, T_CALL, "GET /call/{port}");
    let client = spans
        .iter()
        .find(|s| hex(&s.trace_id) == T_CALL && s.kind == SpanKind::Client as i32)
        .expect("a client span");
    assert_eq!(client.parent_span_id, outer.span_id);
    assert_eq!(
        attr(&client.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        attr(&client.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    let callee = by_trace(&spans, T_CALL, "GET /orders/{id}");
    assert_eq!(callee.parent_span_id, client.span_id);
}
