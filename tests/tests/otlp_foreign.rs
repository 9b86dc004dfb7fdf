//! OTLP export of third-party spans in development: values under sensitive keys are masked in
//! span attributes (at creation and `record()` later) and span event attributes, other keys are
//! kept. Decoded from the real OTLP/HTTP protobuf payload.

mod otlp_support;

use otlp_support::{attr, third_party as tp};

#[test]
fn third_party_span_attributes_and_events_are_masked_by_key() {
    let bodies = otlp_support::export_third_party(false);
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
    assert_eq!(attr(&login.attributes, "user").as_deref(), Some("jane"));
    assert_eq!(attr(&login.attributes, "rows").as_deref(), Some("3"));
    assert!(attr(&login.attributes, "code.file.path").is_some());
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
    // Free text (an allowlisted `error`, the event's message-derived name) is scrubbed of URL
    // credentials but keeps the rest of the URL.
    let failed = login
        .events
        .iter()
        .find(|e| e.name.starts_with("upstream failed"))
        .expect("error event");
    assert!(failed.name.contains("api.example.com"), "{}", failed.name);
    let error = attr(&failed.attributes, "error").expect("error attribute");
    assert!(
        error.contains("https://api.example.com/v1?api_key="),
        "{error}"
    );
    let inner = spans
        .iter()
        .find(|s| s.name == "inner")
        .expect("inner span");
    assert_eq!(
        attr(&inner.attributes, "token").as_deref(),
        Some("[REDACTED]")
    );
    let nested = &inner.events[0];
    assert_eq!(
        attr(&nested.attributes, "session_token").as_deref(),
        Some("[REDACTED]")
    );
}
