//! OTLP/HTTP export (feature `otlp`): a real local collector endpoint receives the protobuf
//! payload, decoded here with the official OpenTelemetry definitions.

use observa::observed;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp_support::{attr, hex};
use prost::Message;

mod otlp_support;

#[observed(event = "t.otlp", tenant, fields(job_id))]
fn traced(tenant: &str, job_id: u64) -> u64 {
    tracing::info!(event = "t.otlp.inside", "inside the span");
    job_id
}

#[derive(observa::Redact)]
struct Login {
    user: String,
    password: String,
    #[redact(last4)]
    card: String,
}

#[observed(event = "t.otlp_secret", fields(login, api_token))]
fn with_secret(login: &Login, api_token: &str) -> usize {
    login.user.len() + api_token.len()
}

#[observed(event = "t.otlp_fail")]
fn failing() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("disk full"))
}

#[test]
fn spans_are_exported_with_resource_attributes_and_remote_parent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);

    let logs = observa::MemoryWriter::new();
    let mut cfg = observa::Config::new("otlp-test").with_writer(logs.clone());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let guard = observa::init(cfg).unwrap();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    observa::Context::new()
        .with_traceparent(format!("00-{trace_id}-{parent}-01"))
        .scope(|| assert_eq!(traced("acme", 5), 5));
    let _ = failing();
    let login = Login {
        user: "jane".into(),
        password: "otlp-canary-pw-7731".into(),
        card: "4242424242424242".into(),
    };
    assert_eq!(with_secret(&login, "otlp-canary-token-9913"), 26);
    drop(guard); // shuts the provider down: the batch is exported

    let bodies = bodies.lock().unwrap();
    assert!(!bodies.is_empty(), "nothing exported");
    // No secret reaches the exporter: no 8-byte piece of a canary (the card shows only its
    // last four digits).
    for b in bodies.iter() {
        for canary in [
            "otlp-canary-pw-7731",
            "otlp-canary-token-9913",
            "4242424242424242",
        ] {
            for w in canary.as_bytes().windows(8) {
                assert!(
                    !b.windows(8).any(|x| x == w),
                    "a piece of {canary:?} reached the OTLP payload"
                );
            }
        }
    }
    let mut spans = Vec::new();
    for b in bodies.iter() {
        let req = ExportTraceServiceRequest::decode(b.as_ref()).expect("OTLP protobuf");
        for rs in req.resource_spans {
            let res = rs.resource.unwrap_or_default();
            assert_eq!(
                attr(&res.attributes, "service.name").as_deref(),
                Some("otlp-test")
            );
            assert!(attr(&res.attributes, "deployment.environment.name").is_some());
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
    }
    let ok = spans
        .iter()
        .find(|s| s.name == "t.otlp")
        .expect("t.otlp span");
    assert_eq!(hex(&ok.trace_id), trace_id, "continues the remote trace");
    assert_eq!(hex(&ok.parent_span_id), parent);
    assert_eq!(attr(&ok.attributes, "tenant_id").as_deref(), Some("acme"));
    assert_eq!(attr(&ok.attributes, "job_id").as_deref(), Some("5"));
    assert_eq!(attr(&ok.attributes, "outcome").as_deref(), Some("ok"));

    let bad = spans
        .iter()
        .find(|s| s.name == "t.otlp_fail")
        .expect("failed span");
    let status = bad.status.clone().unwrap_or_default();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(
        attr(&bad.attributes, "outcome").as_deref(),
        Some("server_error")
    );

    // Log lines inside the span carry its ids.
    let line = logs
        .contents()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "t.otlp.inside")
        .expect("inner line");
    assert_eq!(line["trace_id"], trace_id);
    assert_eq!(line["span_id"], hex(&ok.span_id));
}
