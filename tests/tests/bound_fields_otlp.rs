//! Bound fields on exported spans (feature `otlp`): a real local collector receives the
//! protobuf payload, decoded with the official OpenTelemetry definitions.

use observa::observed;

mod otlp_support;
use otlp_support::{assert_no_piece, attr};

#[observed(event = "bound.otlp.inner")]
fn inner() {}

#[observed(event = "bound.otlp.job", bind(job_id, job_type = "shopify_sync"))]
fn job(job_id: &str) {
    observa::context::bind_field("celery_task_id", "abc123def456").unwrap();
    observa::context::bind_field("api_token", "otlp-bound-canary-4417").unwrap();
    inner();
}

#[observed(event = "bound.otlp.outside")]
fn outside() {}

#[test]
fn bound_fields_are_attributes_of_spans_inside_and_not_outside() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let mut cfg = observa::Config::new("bound-otlp-test").with_writer(observa::MemoryWriter::new());
    cfg.otlp_endpoint = Some(format!("http://{addr}"));
    let guard = observa::init(cfg).unwrap();
    job("7c9e6679");
    outside();
    drop(guard); // flushes the batch

    let spans = otlp_support::spans(&bodies);
    let find = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name} in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let j = find("bound.otlp.job");
    assert_eq!(attr(&j.attributes, "job_id").as_deref(), Some("7c9e6679"));
    assert_eq!(
        attr(&j.attributes, "job_type").as_deref(),
        Some("shopify_sync")
    );
    // Bound inside the body: on the spans created after that.
    let i = find("bound.otlp.inner");
    for (k, v) in [
        ("job_id", "7c9e6679"),
        ("job_type", "shopify_sync"),
        ("celery_task_id", "abc123def456"),
        ("api_token", "[REDACTED]"),
    ] {
        assert_eq!(attr(&i.attributes, k).as_deref(), Some(v), "{k}");
    }
    let o = find("bound.otlp.outside");
    for k in ["job_id", "job_type", "celery_task_id"] {
        assert!(
            attr(&o.attributes, k).is_none(),
            "`{k}` leaked to a later span"
        );
    }
    assert_no_piece(&bodies, &["otlp-bound-canary-4417"]);
}
