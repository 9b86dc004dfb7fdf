//! Security lines in production (JSON, allowlist redaction): observa's own violation and abuse
//! lines keep their fields (they are not foreign fields for the allowlist to filter), and the
//! token id is still only its fingerprint.

use observa::Context;
use observa::security::{AbuseConfig, Code, Names, Security, SecurityConfig};

mod log_support;

#[test]
fn production_keeps_the_violation_fields_and_never_the_token() {
    log_support::capture_with(
        observa::Config::new("security-production")
            .with_environment("production")
            .with_log_level("info"),
    );
    let sec = Security::new(
        SecurityConfig::new()
            .names(Names::with_prefix("sec_prod_"))
            .abuse(AbuseConfig::default().host_threshold(1)),
    )
    .unwrap();
    Context::new()
        .with_correlation_id("sec-prod-1")
        .with_tenant_id("acme")
        .scope(|| {
            sec.violation(Code::CrossTenantAccess)
                .requested_tenant("globex")
                .client_ip("203.0.113.5")
                .permission("events.read")
                .token_id("jti-CANARYprodK8")
                .route("/events/{tenant}")
                .status(403)
                .emit();
        });
    let lines = log_support::wait_lines(|v| v["correlation_id"] == "sec-prod-1", |l| l.len() >= 2);
    let v = lines
        .iter()
        .find(|v| v["event"] == "security.violation")
        .expect("violation line");
    assert_eq!(v["violation"], "cross_tenant_access");
    assert_eq!(v["requested_tenant_id"], "globex");
    assert_eq!(v["effective_tenant_id"], "acme");
    assert_eq!(v["client_ip"], "203.0.113.5");
    assert_eq!(v["permission"], "events.read");
    assert_eq!(
        v["token_fp"],
        observa::redact::fingerprint("jti-CANARYprodK8")
            .to_string()
            .as_str()
    );
    let a = lines
        .iter()
        .find(|v| v["event"] == "abuse_signal_host")
        .expect("abuse line");
    assert_eq!(a["client_ip"], "203.0.113.5");
    assert_eq!(a["threshold"], 1);
    assert!(!log_support::raw().contains("CANARYprod"));
}
