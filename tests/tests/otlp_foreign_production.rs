//! OTLP export of third-party spans in production: sensitive keys masked, and keys outside the
//! production allowlist filtered, as in log lines. Decoded from the real OTLP/HTTP protobuf
//! payload.

mod otlp_support;

use otlp_support::{attr, third_party as tp};

#[test]
fn third_party_span_attributes_follow_the_production_allowlist() {
    let bodies = otlp_support::export_third_party(true);
    otlp_support::assert_no_piece(
        &bodies,
        &[
            tp::PASSWORD,
            tp::AUTH,
            tp::API_KEY,
            tp::SECRET,
            tp::TOKEN,
            tp::URL_PW,
            tp::URL_KEY,
        ],
    );
    let spans = otlp_support::spans(&bodies);
    let login = spans
        .iter()
        .find(|s| s.name == "login")
        .expect("login span");
    assert_eq!(
        attr(&login.attributes, "password").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(
        attr(&login.attributes, "api_key").as_deref(),
        Some("[REDACTED]")
    );
    // Not secret as far as we know, but not on the allowlist.
    assert_eq!(
        attr(&login.attributes, "user").as_deref(),
        Some("[FILTERED]")
    );
    assert_eq!(
        attr(&login.attributes, "rows").as_deref(),
        Some("[FILTERED]")
    );
    // What the exporter itself adds is kept.
    assert!(attr(&login.attributes, "code.file.path").is_some_and(|f| f.ends_with(".rs")));
    let warn = login
        .events
        .iter()
        .find(|e| e.name == "calling upstream")
        .expect("warn event");
    assert_eq!(
        attr(&warn.attributes, "authorization").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(attr(&warn.attributes, "attempt").as_deref(), Some("2"));
    assert_eq!(attr(&warn.attributes, "level").as_deref(), Some("WARN"));
    let info = login
        .events
        .iter()
        .find(|e| e.name == "token exchanged")
        .expect("info event");
    assert_eq!(
        attr(&info.attributes, "client_secret").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(attr(&info.attributes, "status").as_deref(), Some("200"));
    let inner = spans
        .iter()
        .find(|s| s.name == "inner")
        .expect("inner span");
    assert_eq!(
        attr(&inner.attributes, "token").as_deref(),
        Some("[REDACTED]")
    );
}
