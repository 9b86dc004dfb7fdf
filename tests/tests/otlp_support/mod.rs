//! A local OTLP/HTTP collector for the tests: an axum server on 127.0.0.1 that keeps every
//! `/v1/traces` body, and the decoding of those bodies with the official protobuf definitions.

#![allow(dead_code)]

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The bodies received so far.
pub type Bodies = Arc<Mutex<Vec<Bytes>>>;

/// Starts a collector on `rt`; returns its address and the received bodies.
pub fn collector(rt: &tokio::runtime::Runtime) -> (SocketAddr, Bodies) {
    let bodies: Bodies = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(b): State<Bodies>, body: Bytes| async move {
                b.lock().unwrap().push(body);
                ""
            }),
        )
        .with_state(bodies.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, bodies)
}

/// Every span of every body, decoded.
pub fn spans(bodies: &Bodies) -> Vec<Span> {
    let mut out = Vec::new();
    for b in bodies.lock().unwrap().iter() {
        let req = ExportTraceServiceRequest::decode(b.as_ref()).expect("OTLP protobuf");
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                out.extend(ss.spans);
            }
        }
    }
    out
}

/// The spans named `name`.
pub fn by_name<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// The one span named `name` (fails, listing every name, if there is none or more than one).
pub fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let v = by_name(spans, name);
    assert_eq!(
        v.len(),
        1,
        "spans named {name}: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    v[0]
}

/// The names of a span's events, in order.
pub fn event_names(s: &Span) -> Vec<&str> {
    s.events.iter().map(|e| e.name.as_str()).collect()
}

/// The value of attribute `key`, as text.
pub fn attr(kv: &[KeyValue], key: &str) -> Option<String> {
    kv.iter()
        .find(|k| k.key == key)
        .and_then(|k| match k.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            AnyValue::BoolValue(b) => Some(b.to_string()),
            other => Some(format!("{other:?}")),
        })
}

/// Asserts that no 8-byte piece of any canary is in any received body.
pub fn assert_no_piece(bodies: &Bodies, canaries: &[&str]) {
    for b in bodies.lock().unwrap().iter() {
        for canary in canaries {
            for w in canary.as_bytes().windows(8) {
                assert!(
                    !b.windows(8).any(|x| x == w),
                    "a piece of {canary:?} reached the OTLP payload"
                );
            }
        }
    }
}

/// Lowercase hex of bytes (trace and span ids).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Third-party code that bypasses observa: a `#[tracing::instrument]` fn with a sensitive
/// argument, a value recorded later, and events inside the span with sensitive keys.
pub mod third_party {
    // Canaries share no 8-byte piece with each other or with the keys they are recorded under.
    pub const PASSWORD: &str = "K9pw-vQ7x-5521";
    pub const AUTH: &str = "Bearer K9au-zR3m-8830";
    pub const API_KEY: &str = "K9ak-tY6n-4417";
    pub const SECRET: &str = "K9cs-wE2b-2209";
    pub const TOKEN: &str = "K9tk-uI5v-6612";
    /// Credentials inside a URL of free text: userinfo and a sensitive query value.
    pub const URL_PW: &str = "K9up-oP8c-7734";
    pub const URL_KEY: &str = "K9uq-aS1d-9901";

    #[tracing::instrument(fields(api_key = tracing::field::Empty, rows = tracing::field::Empty))]
    pub fn login(user: &str, password: &str) -> usize {
        let span = tracing::Span::current();
        span.record("api_key", API_KEY);
        span.record("rows", 3);
        let h = AUTH;
        tracing::warn!(authorization = %h, attempt = 2, "calling upstream");
        tracing::info!(client_secret = SECRET, status = 200, "token exchanged");
        let err = format!(
            "error sending request for url (https://svc:{URL_PW}@api.example.com/v1?api_key={URL_KEY})"
        );
        tracing::error!(error = %err, "upstream failed for https://svc:{URL_PW}@api.example.com/");
        inner(TOKEN);
        user.len() + password.len()
    }

    #[tracing::instrument]
    fn inner(token: &str) {
        tracing::info!(session_token = token, "nested");
    }
}

/// Runs [`third_party::login`] under observa with an OTLP exporter (`production` or not) and
/// returns the received bodies once the provider has shut down (every span exported).
pub fn export_third_party(production: bool) -> Bodies {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = collector(&rt);
    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("otlp-foreign")
        .with_writer(logs)
        .with_environment(if production {
            "production"
        } else {
            "development"
        });
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    cfg.otlp_sample_ratio = 1.0;
    let guard = observa::init(cfg).unwrap();
    assert_eq!(third_party::login("jane", third_party::PASSWORD), 18);
    drop(guard);
    bodies
}
