//! Bound fields, structlog's `bind_contextvars`: named values bound for a scope
//! (`#[observed(bind(...))]`, `observa::context::bind_field`) are on every line written inside
//! it (nested calls and `observa::spawn`ed tasks included), never outside, bounded, masked when
//! sensitive and carried by the job carrier. Lines are read back from the real pipeline and
//! parsed with a duplicate-key-refusing JSON parser.

use observa::carrier::JobContext;
use observa::context::{self, BindFieldError, Context};
use observa::observed;
use serde_json::Value;

mod log_support;
use log_support::{parse_unique, raw, wait_lines};

fn setup() {
    log_support::capture("bound-fields-tests", "info");
}

/// Every line whose `marker` field is `m`, parsed with duplicate keys refused.
fn marked(m: &str, n: usize) -> Vec<Value> {
    wait_lines(|v| v["marker"] == m, |l| l.len() >= n);
    raw()
        .lines()
        .filter(|l| l.contains(m))
        .map(|l| parse_unique(l).unwrap_or_else(|e| panic!("{e}")))
        .filter(|v| {
            v["marker"] == m
                || v["event"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("seed001."))
        })
        .collect()
}

fn rejected(reason: &str) -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "observa_context_fields_rejected_total"
                && s.labels.get("reason") == Some(reason)
        })
        .map_or(0.0, |s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

// Seed 001's worker: `job_id`, `job_type`, `connection_id`, `celery_task_id` on every line.

#[observed(event = "seed001.rows", fields(batch))]
async fn upsert_rows(batch: u32) -> Result<u32, std::io::Error> {
    tracing::info!(marker = "seed001", "upserting");
    Ok(batch)
}

#[observed(
    event = "seed001.sync_shopify_orders",
    tenant = tenant_id,
    correlation = correlation_id,
    bind(job_id, job_type = "shopify_sync", connection_id)
)]
async fn sync_shopify_orders(
    job_id: &str,
    tenant_id: &str,
    connection_id: &str,
    correlation_id: &str,
    task_id: &str,
) -> Result<u32, std::io::Error> {
    context::bind_field("celery_task_id", task_id).expect("bound");
    tracing::info!(marker = "seed001", event = "worker_task_started", "started");
    let n = upsert_rows(150).await?;
    // A spawned task carries the scope, bound fields included.
    observa::spawn(async {
        tracing::info!(marker = "seed001", event = "spawned", "in a spawned task");
    })
    .await
    .expect("task");
    // A field of the event with a bound name is renamed, never a second `job_id` key.
    tracing::info!(
        marker = "seed001",
        job_id = "shadow",
        event = "worker_task_completed",
        rows_processed = n
    );
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_worker_fields_are_on_every_line_inside_and_none_outside() {
    setup();
    let n = sync_shopify_orders(
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "550e8400-e29b-41d4-a716-446655440000",
        "d4f5a678-1234-5678-9abc-def012345678",
        "a1b2c3d4e5f67890abcdef1234567890",
        "abc123def456",
    )
    .await
    .unwrap();
    assert_eq!(n, 150, "return value unchanged");
    tracing::info!(marker = "seed001", event = "after_the_job", "outside");

    let lines = marked("seed001", 5);
    let inside: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] != "after_the_job")
        .collect();
    // started, upserting, rows.completed, spawned, worker_task_completed, sync.completed
    assert!(inside.len() >= 6, "{lines:#?}");
    for v in &inside {
        assert_eq!(v["job_id"], "7c9e6679-7425-40de-944b-e07fc1f90ae7", "{v}");
        assert_eq!(v["job_type"], "shopify_sync", "{v}");
        assert_eq!(
            v["connection_id"], "d4f5a678-1234-5678-9abc-def012345678",
            "{v}"
        );
        assert_eq!(
            v["tenant_id"], "550e8400-e29b-41d4-a716-446655440000",
            "{v}"
        );
        assert_eq!(
            v["correlation_id"], "a1b2c3d4e5f67890abcdef1234567890",
            "{v}"
        );
        // `celery_task_id` is bound inside the body: on every line after that.
        assert_eq!(v["celery_task_id"], "abc123def456", "{v}");
    }
    for e in [
        "worker_task_started",
        "spawned",
        "worker_task_completed",
        "seed001.rows.completed",
        "seed001.sync_shopify_orders.completed",
    ] {
        assert!(
            inside.iter().any(|v| v["event"] == e),
            "no {e} line in {lines:#?}"
        );
    }
    let done = inside
        .iter()
        .find(|v| v["event"] == "worker_task_completed")
        .unwrap();
    assert_eq!(
        done["job_id_1"], "shadow",
        "the event's own field is renamed: {done}"
    );
    assert_eq!(done["rows_processed"], 150);

    let after = lines
        .iter()
        .find(|v| v["event"] == "after_the_job")
        .expect("outside line");
    for k in [
        "job_id",
        "job_type",
        "connection_id",
        "celery_task_id",
        "tenant_id",
    ] {
        assert!(
            after.get(k).is_none(),
            "`{k}` leaked out of the scope: {after}"
        );
    }
}

#[test]
fn bounds_are_counted_and_ignored_never_a_panic() {
    setup();
    let before = [
        rejected("too_many"),
        rejected("value_too_long"),
        rejected("reserved_name"),
        rejected("invalid_name"),
    ];
    Context::new().scope(|| {
        for i in 0..context::MAX_BOUND_FIELDS {
            context::bind_field(&format!("f{i}"), i).expect("within the limit");
        }
        // Rebinding a bound name replaces its value (no new slot).
        context::bind_field("f0", "again").expect("rebinding");
        assert_eq!(
            context::bind_field("f_extra", 1),
            Err(BindFieldError::TooMany)
        );
        assert_eq!(
            context::bind_field("f1", "x".repeat(context::MAX_BOUND_VALUE_BYTES + 1)),
            Err(BindFieldError::ValueTooLong)
        );
        assert_eq!(
            context::bind_field("tenant_id", "t"),
            Err(BindFieldError::ReservedName)
        );
        assert_eq!(
            context::bind_field("bad name\n", "v"),
            Err(BindFieldError::InvalidName)
        );
        tracing::info!(marker = "bounds", "inside");
    });
    let line = &marked("bounds", 1)[0];
    assert_eq!(line["f0"], "again");
    assert_eq!(
        line["f1"], "1",
        "the too-long value left the old one: {line}"
    );
    assert_eq!(line["f15"], "15");
    assert!(line.get("f_extra").is_none(), "{line}");
    assert!(line.get("tenant_id").is_none(), "{line}");
    let after = [
        rejected("too_many"),
        rejected("value_too_long"),
        rejected("reserved_name"),
        rejected("invalid_name"),
    ];
    for (b, a) in before.iter().zip(after) {
        assert!(a >= b + 1.0, "{before:?} -> {after:?}");
    }
    let warn = wait_lines(
        |v| v["event"] == "observa.bind_field_rejected" && v["reason"] == "too_many",
        |l| !l.is_empty(),
    );
    assert_eq!(warn[0]["level"], "warn");
    assert!(
        !raw().contains("bad name\\n"),
        "an invalid name is not echoed"
    );
}

#[observed(event = "bound.sensitive", bind(password, note = api_key))]
fn with_secrets(password: &str, api_key: &str) {
    tracing::info!(marker = "sensitive", "inside");
    let _ = (password, api_key);
}

#[test]
fn sensitive_names_and_expressions_are_masked() {
    setup();
    with_secrets("canary-pw-8f3a", "canary-key-77b1");
    Context::new().scope(|| {
        context::bind_field("session_token", "canary-tok-5d2e").unwrap();
        tracing::info!(marker = "sensitive", "in scope");
    });
    let lines = marked("sensitive", 2);
    assert!(
        lines
            .iter()
            .any(|v| v["password"] == "[REDACTED]" && v["note"] == "[REDACTED]"),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|v| v["session_token"] == "[REDACTED]"),
        "{lines:#?}"
    );
    let all = raw();
    for canary in ["canary-pw", "canary-key", "canary-tok"] {
        assert!(!all.contains(canary), "{canary} leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_carrier_carries_bound_fields() {
    setup();
    let payload = Context::new()
        .with_correlation_id("0af7651916cd43dd8448eb211c80319c")
        .with_field("job_type", "shopify_sync")
        .with_field("connection_id", "conn-9")
        .scope(|| serde_json::to_string(&JobContext::current()).unwrap());
    let v: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["fields"]["job_type"], "shopify_sync", "{payload}");

    // The worker side.
    let job: JobContext = serde_json::from_str(&payload).unwrap();
    job.scope(async {
        tracing::info!(marker = "carrier", "in the worker");
    })
    .await;
    // A payload is input: its fields go through the same rules.
    let mut hostile: serde_json::Map<String, Value> = serde_json::Map::new();
    for i in 0..40 {
        hostile.insert(format!("k{i:02}"), Value::from("v"));
    }
    hostile.insert("event".into(), Value::from("spoofed"));
    let job: JobContext = serde_json::from_value(serde_json::json!({ "fields": hostile })).unwrap();
    job.scope_sync(|| tracing::info!(marker = "carrier", hostile = true, "hostile"));

    let lines = marked("carrier", 2);
    let worker = lines.iter().find(|v| v.get("hostile").is_none()).unwrap();
    assert_eq!(worker["job_type"], "shopify_sync");
    assert_eq!(worker["connection_id"], "conn-9");
    assert_eq!(worker["correlation_id"], "0af7651916cd43dd8448eb211c80319c");
    let hostile = lines.iter().find(|v| v.get("hostile").is_some()).unwrap();
    let bound = hostile
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with('k') && k.len() == 3)
        .count();
    assert_eq!(bound, context::MAX_BOUND_FIELDS, "{hostile}");
    assert_ne!(hostile["event"], "spoofed");
}

#[test]
fn a_bound_name_taken_by_a_canonical_key_is_renamed_not_repeated() {
    setup();
    // A WebSocket connection's `connection_id` is canonical; a bound one is written `_1`.
    Context::new()
        .with_connection_id("conn_0123456789abcdef")
        .with_field("connection_id", "d4f5a678")
        .scope(|| tracing::info!(marker = "collide", "both"));
    let line = &marked("collide", 1)[0];
    assert_eq!(line["connection_id"], "conn_0123456789abcdef");
    assert_eq!(line["connection_id_1"], "d4f5a678");
}
