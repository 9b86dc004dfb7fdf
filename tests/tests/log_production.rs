//! Production mode (`OBSERVA_ENV=production`): JSON only, and the allowlist applied to fields of
//! events of unknown origin, while observa's own fields and `fields(...)` stay visible.

use observa::observed;
use std::time::{Duration, Instant};

#[observed(event = "t.prod", fields(job_id))]
fn job(job_id: u64) -> u64 {
    tracing::info!(
        job_id,
        customer_note = "prod-canary-note",
        email = "someone@example.com",
        api_key = "prod-canary-key",
        "third-party line"
    );
    job_id
}

#[test]
fn allowlist_masks_unknown_fields_of_foreign_events() {
    let logs = observa::MemoryWriter::new();
    let cfg = observa::Config::from_vars([
        ("OBSERVA_ENV", "production"),
        ("OBSERVA_LOG_FORMAT", "console"),
    ])
    .unwrap()
    .with_writer(logs.clone());
    assert_eq!(
        cfg.log_format,
        observa::Format::Json,
        "production forces JSON"
    );
    let guard = observa::init(cfg).unwrap();
    assert!(observa::runtime_info().unwrap().production);
    assert_eq!(job(11), 11);
    drop(guard);
    let deadline = Instant::now() + Duration::from_secs(5);
    while logs.contents().lines().count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = logs.contents();
    assert!(!text.contains("prod-canary"), "{text}");
    assert!(!text.contains("someone@example.com"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let foreign = lines
        .iter()
        .find(|l| l["message"] == "third-party line")
        .unwrap();
    assert_eq!(foreign["job_id"], 11, "allowlisted keys stay");
    assert_eq!(foreign["customer_note"], "[FILTERED]", "not allowlisted");
    assert_eq!(foreign["email"], "[FILTERED]", "not allowlisted");
    assert_eq!(foreign["api_key"], observa::REDACTED, "sensitive name");
    let done = lines
        .iter()
        .find(|l| l["event"] == "t.prod.completed")
        .unwrap();
    assert_eq!(
        done["job_id"], 11,
        "fields(...) of #[observed] are already redacted by type"
    );
}
