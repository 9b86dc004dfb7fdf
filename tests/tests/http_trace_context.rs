//! Incoming trace context (W3C `traceparent`) under the layer's policy, with the real OTLP
//! exporter at sample ratio 0: what a client sends decides whether its trace continues, never
//! (by default) whether it is exported. Payloads decoded with the official protobuf definitions.

use axum::Router;
use axum::routing::get;
use observa::http::{RequestLayer, TraceContextPolicy};
use observa::observed;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod otlp_support;

#[observed(event = "tc.work")]
async fn work() -> &'static str {
    "ok"
}

#[observed(event = "tc.job")]
fn job() -> u8 {
    7
}

async fn serve(layer: RequestLayer) -> SocketAddr {
    let app = Router::new()
        .route("/t", get(|| async { work().await }))
        .layer(layer);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    addr
}

fn tp(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

const T_DEFAULT: &str = "11111111111111111111111111111111";
const T_HONOUR: &str = "22222222222222222222222222222222";
const T_IGNORE: &str = "33333333333333333333333333333333";
const T_DUP: &str = "44444444444444444444444444444444";
const T_UPPER: &str = "ABCDEF0123456789ABCDEF0123456789";
const T_FF: &str = "66666666666666666666666666666666";
const PARENT: &str = "00f067aa0ba902b7";

#[test]
fn incoming_trace_context_is_validated_and_trusted_only_as_configured() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (collector, bodies) = otlp_support::collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("trace-context").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{collector}"));
    cfg.otlp_sample_ratio = 0.0;
    let guard = observa::init(cfg).unwrap();

    rt.block_on(async {
        let default = serve(observa::http::layer()).await;
        let honour = serve(
            observa::http::layer().trace_context(TraceContextPolicy::ContinueAndHonourSampled),
        )
        .await;
        let ignore = serve(observa::http::layer().trace_context(TraceContextPolicy::Ignore)).await;
        let c = reqwest::Client::new();
        let send = |addr: SocketAddr, id: &str, tps: &[String]| {
            let mut r = c
                .get(format!("http://{addr}/t"))
                .header("x-request-id", id.to_owned());
            for t in tps {
                r = r.header("traceparent", t.as_str());
            }
            r.send()
        };
        for (addr, id, tps) in [
            (default, "tc-default", vec![tp(T_DEFAULT, PARENT)]),
            (honour, "tc-honour", vec![tp(T_HONOUR, PARENT)]),
            (ignore, "tc-ignore", vec![tp(T_IGNORE, PARENT)]),
            (
                default,
                "tc-dup",
                vec![tp(T_DUP, PARENT), tp(T_DUP, "00f067aa0ba902b8")],
            ),
            (honour, "tc-zero-trace", vec![tp(&"0".repeat(32), PARENT)]),
            (
                honour,
                "tc-zero-parent",
                vec![tp(T_DEFAULT, &"0".repeat(16))],
            ),
            (honour, "tc-upper", vec![tp(T_UPPER, PARENT)]),
            (honour, "tc-ff", vec![format!("ff-{T_FF}-{PARENT}-01")]),
            (honour, "tc-short", vec![format!("00-{T_FF}-{PARENT}-1")]),
        ] {
            assert_eq!(send(addr, id, &tps).await.unwrap().status(), 200, "{id}");
        }
    });
    // A context built by hand (not through the layer) is validated by the same parser.
    for bad in [tp(T_UPPER, PARENT), format!("ff-{T_FF}-{PARENT}-01")] {
        let n = observa::Context::new().with_traceparent(bad).scope(job);
        assert_eq!(n, 7);
    }
    let lines_of = |id: &str| -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got: Vec<Value> = logs
                .contents()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["event"] == "request.completed" && v["correlation_id"] == id)
                .collect();
            if !got.is_empty() || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // Continued (same trace id) under the default and the honouring policy.
    assert_eq!(lines_of("tc-default")[0]["trace_id"], T_DEFAULT);
    assert_eq!(lines_of("tc-honour")[0]["trace_id"], T_HONOUR);
    // Not continued: ignored by policy, duplicated, all-zero ids, uppercase, version ff,
    // malformed.
    for id in [
        "tc-ignore",
        "tc-dup",
        "tc-zero-trace",
        "tc-zero-parent",
        "tc-upper",
        "tc-ff",
        "tc-short",
    ] {
        let l = lines_of(id);
        assert_eq!(l.len(), 1, "{id}");
        // The request starts its own trace (its server span's, when spans are on): never the
        // refused incoming one.
        let own = l[0]["trace_id"].as_str().unwrap_or("");
        let upper = T_UPPER.to_ascii_lowercase();
        for refused in [T_IGNORE, T_DUP, T_FF, upper.as_str()] {
            assert_ne!(own, refused, "{id}: {}", l[0]);
        }
        assert!(!own.starts_with("0000000000000000"), "{id}: {}", l[0]);
    }
    drop(guard); // the provider shuts down: every sampled span is exported

    let spans = otlp_support::spans(&bodies);
    let traces: Vec<String> = spans
        .iter()
        .map(|s| otlp_support::hex(&s.trace_id))
        .collect();
    // Only the honouring layer lets the client's `sampled` flag force export (ratio 0).
    let honoured = spans
        .iter()
        .find(|s| s.name == "tc.work" && otlp_support::hex(&s.trace_id) == T_HONOUR)
        .expect("the honoured trace is exported");
    // Its parent is the request's server span, whose parent is the caller's span.
    let server = spans
        .iter()
        .find(|s| s.span_id == honoured.parent_span_id)
        .expect("the server span is exported");
    assert_eq!(otlp_support::hex(&server.trace_id), T_HONOUR);
    assert_eq!(otlp_support::hex(&server.parent_span_id), PARENT);
    for t in [T_DEFAULT, T_IGNORE, T_DUP, T_FF] {
        assert!(
            !traces.iter().any(|x| x == t),
            "{t} was exported: {traces:?}"
        );
    }
    let upper = T_UPPER.to_ascii_lowercase();
    assert!(
        !traces.contains(&upper),
        "the uppercase traceparent was adopted"
    );
    assert_eq!(
        traces.len(),
        spans
            .iter()
            .filter(|s| otlp_support::hex(&s.trace_id) == T_HONOUR)
            .count(),
        "only the honoured trace is exported at ratio 0: {traces:?}"
    );
}
