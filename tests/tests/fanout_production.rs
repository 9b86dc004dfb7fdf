//! Fan-out lines in production (JSON, allowlist redaction): observa's own drop warning and
//! lifecycle lines keep their fields (they are not foreign fields for the allowlist to filter),
//! and the payload is still never written.

use observa::fanout::{Filter, Hub, HubConfig, Message};

mod log_support;

#[tokio::test]
async fn production_keeps_the_drop_warning_fields_and_never_the_payload() {
    log_support::capture_with(
        observa::Config::new("fanout-production")
            .with_environment("production")
            .with_log_level("info"),
    );
    let hub = Hub::new(
        HubConfig::new("prod-hub")
            .with_metric_prefix("fanout_prod")
            .with_queue_max(2),
    )
    .unwrap();
    let mut sub = hub.subscribe(Filter::all());
    for step in 1..=5 {
        hub.publish(
            Message::new("jobs.tenant.acme.job.77", format!("CANARYfanPROD{step}"))
                .with_tenant_id("acme")
                .with_job_id("77"),
        );
    }
    while sub.try_recv().is_some() {}
    drop(sub);
    hub.stop().await;
    let lines = log_support::wait_lines(
        |v| v["event"] == "fanout.dropped" || v["event"] == "fanout.stopped",
        |l| l.len() >= 2,
    );
    let d = lines
        .iter()
        .find(|v| v["event"] == "fanout.dropped")
        .expect("drop warning");
    assert_eq!(d["level"], "warn");
    assert_eq!(d["tenant_id"], "acme");
    assert_eq!(d["hub"], "prod-hub", "{d}");
    assert_eq!(d["max_size"], 2, "{d}");
    assert_eq!(d["dropped"], 3, "{d}");
    assert_eq!(d["drop_reason"], "queue_full", "{d}");
    assert!(!log_support::raw().contains("CANARYfanPROD"));
}
