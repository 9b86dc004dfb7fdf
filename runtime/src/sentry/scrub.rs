//! `before_send`: every event leaving through observa's Sentry client, whoever captured it,
//! goes through the same redaction as a log line.
//!
//! - the key filter ([`crate::redact::key_action`]) on `extra`, `tags`, generic `contexts`,
//!   the user's extra fields and every breadcrumb's `data`: sensitive keys are masked, and in
//!   production keys outside the allowlist ([`crate::log::SAFE_FIELDS`] plus the tags observa
//!   sets itself) are filtered;
//! - the error-text scrubbing (URL userinfo, sensitive query values and `key=value` pairs) on
//!   the message, exception values, breadcrumb messages and every kept string value; every text
//!   is bounded;
//! - the request's cookies, headers, body, query string and environment removed (the URL keeps
//!   its path only), the user's e-mail, user name and IP address removed;
//! - the server name (the host name) removed.

use crate::redact::KeyAction;
use crate::scrub::scrub as scrub_error_text;
use sentry::protocol::{Context, Event, Map, Value};

/// Longest text kept in an event value.
pub(crate) const MAX_TEXT: usize = 4096;

/// Tags observa sets itself; kept by the production allowlist.
pub(crate) const OWN_TAGS: &[&str] = &[
    "correlation_id",
    "tenant_id",
    "user_id",
    "route",
    "trace_id",
    "event",
    "outcome",
    "error_type",
    "method",
    "status",
    "cause.event",
    "cause.outcome",
    "cause.error_type",
];

fn action(key: &str, production: bool) -> KeyAction {
    if production && OWN_TAGS.iter().any(|t| t.eq_ignore_ascii_case(key)) {
        return crate::redact::key_action(key, None);
    }
    crate::redact::key_action(key, production.then_some(crate::log::SAFE_FIELDS))
}

fn text(s: &str) -> String {
    let scrubbed = scrub_error_text(s);
    let mut out = String::with_capacity(scrubbed.len().min(MAX_TEXT) + 16);
    for c in scrubbed.chars() {
        if out.len() >= MAX_TEXT {
            out.push_str(crate::encode::json::TRUNCATION_MARKER);
            break;
        }
        // The sinks' neutraliser: controls and invisible characters escaped, not kept.
        // Newlines and tabs stay (a Sentry event is not a line; backtraces keep their shape).
        if crate::encode::json::is_dangerous(c) && c != '\n' && c != '\t' {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn value(v: &mut Value, production: bool, depth: usize) {
    match v {
        Value::String(s) => *s = text(s),
        Value::Array(a) => {
            for x in a {
                value(x, production, depth + 1);
            }
        }
        Value::Object(m) if depth < 8 => {
            for (k, v) in m.iter_mut() {
                match action(k, production) {
                    KeyAction::Keep => value(v, production, depth + 1),
                    KeyAction::Mask => *v = Value::String(crate::record::REDACTED.into()),
                    KeyAction::Filter => *v = Value::String(crate::redact::FILTERED.into()),
                }
            }
        }
        Value::Object(m) => {
            m.clear();
        }
        _ => {}
    }
}

fn map(m: &mut Map<String, Value>, production: bool, depth: usize) {
    for (k, v) in m.iter_mut() {
        match action(k, production) {
            KeyAction::Keep => value(v, production, depth),
            KeyAction::Mask => *v = Value::String(crate::record::REDACTED.into()),
            KeyAction::Filter => *v = Value::String(crate::redact::FILTERED.into()),
        }
    }
}

fn tags(m: &mut Map<String, String>, production: bool) {
    for (k, v) in m.iter_mut() {
        *v = match action(k, production) {
            KeyAction::Keep => text(v),
            KeyAction::Mask => crate::record::REDACTED.into(),
            KeyAction::Filter => crate::redact::FILTERED.into(),
        };
    }
}

/// The redaction applied to every event (see the module docs).
pub(crate) fn before_send(mut e: Event<'static>, production: bool) -> Option<Event<'static>> {
    if let Some(m) = e.message.as_mut() {
        *m = text(m);
    }
    if let Some(l) = e.logentry.as_mut() {
        l.message = text(&l.message);
        l.params.clear();
    }
    for x in e.exception.values.iter_mut() {
        if let Some(v) = x.value.as_mut() {
            *v = text(v);
        }
        x.ty = text(&x.ty);
    }
    tags(&mut e.tags, production);
    map(&mut e.extra, production, 0);
    for (k, c) in e.contexts.iter_mut() {
        if let Context::Other(m) = c {
            if matches!(action(k, production), KeyAction::Keep) {
                map(m, production, 0);
            } else {
                m.clear();
            }
        }
    }
    for b in e.breadcrumbs.values.iter_mut() {
        if let Some(m) = b.message.as_mut() {
            *m = text(m);
        }
        map(&mut b.data, production, 0);
    }
    if let Some(r) = e.request.as_mut() {
        r.cookies = None;
        r.headers.clear();
        r.data = None;
        r.query_string = None;
        r.env.clear();
        if let Some(u) = r.url.as_mut() {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
        }
    }
    if let Some(u) = e.user.as_mut() {
        u.email = None;
        u.username = None;
        u.ip_address = None;
        map(&mut u.other, production, 0);
    }
    e.server_name = None;
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Breadcrumb, Exception, Request};

    #[test]
    fn removes_secrets_everywhere() {
        let mut e = Event::new();
        e.message = Some("failed: https://u:canarypass@h/x?token=canarytok".into());
        e.exception.values.push(Exception {
            ty: "E".into(),
            value: Some("db postgres://a:canarydb@h/d".into()),
            ..Default::default()
        });
        e.tags.insert("password".into(), "canarytag".into());
        e.extra.insert("api_key".into(), "canaryextra".into());
        e.extra
            .insert("nested".into(), serde_json::json!({"secret": "canarynest"}));
        let mut b = Breadcrumb::default();
        b.data.insert("authorization".into(), "canarycrumb".into());
        e.breadcrumbs.values.push(b);
        e.request = Some(Request {
            cookies: Some("sid=canarycookie".into()),
            data: Some("canarybody".into()),
            query_string: Some("q=canaryq".into()),
            ..Default::default()
        });
        e.request
            .as_mut()
            .unwrap()
            .headers
            .insert("Authorization".into(), "canaryheader".into());
        let out = before_send(e, false).unwrap();
        let json = serde_json::to_string(&out).unwrap();
        assert!(!json.contains("canary"), "{json}");
        assert!(json.contains("[REDACTED]"));
    }

    #[test]
    fn production_filters_unknown_keys_but_keeps_observas_tags() {
        let mut e = Event::new();
        e.tags.insert("route".into(), "/orders".into());
        e.tags.insert("favourite_colour".into(), "blue".into());
        e.extra.insert("customer_note".into(), "hello".into());
        let out = before_send(e, true).unwrap();
        assert_eq!(out.tags["route"], "/orders");
        assert_eq!(out.tags["favourite_colour"], "[FILTERED]");
        assert_eq!(out.extra["customer_note"], "[FILTERED]");
    }
}
