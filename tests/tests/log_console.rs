//! The console format (`Format::Console`): after `<timestamp> LEVEL event message`, every field
//! is `key=value` in logfmt. A value is bare when it is not empty and has no space, `=`, `"` or
//! control character; otherwise it is double-quoted with `\"` and `\\` escapes (and the
//! neutraliser's visible escapes `\n`, `\u{..}`). Nested `Redact` values are one quoted compact
//! JSON text. Each line is parsed back here with a small logfmt parser.

mod log_support;

use log_support::*;
use observa::{Redact, observed};
use std::collections::BTreeMap;

fn init() {
    capture_config(
        observa::Config::new("logfmt")
            .with_log_level("info")
            .with_log_format(observa::Format::Console),
    );
}

/// The `key=value` pairs of a console line, from ` target=` on (the timestamp, level, event and
/// message come before it), decoded. Fails on anything that is not logfmt.
fn logfmt(line: &str) -> BTreeMap<String, String> {
    let at = line
        .find(" target=")
        .unwrap_or_else(|| panic!("no target in {line:?}"));
    let mut chars = line[at..].chars().peekable();
    let mut out = BTreeMap::new();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return out;
        }
        let mut key = String::new();
        loop {
            match chars.next() {
                Some('=') => break,
                Some(c) if c != ' ' && c != '"' && !c.is_control() => key.push(c),
                other => panic!("bad key {key:?} (then {other:?}) in {line:?}"),
            }
        }
        assert!(!key.is_empty(), "empty key in {line:?}");
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('"') => value.push('"'),
                        Some('\\') => value.push('\\'),
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            assert_eq!(chars.next(), Some('{'), "{line:?}");
                            let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                            let c = u32::from_str_radix(&hex, 16).unwrap();
                            value.push(char::from_u32(c).unwrap());
                        }
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some(c) => value.push(c),
                    None => panic!("unterminated quote in {line:?}"),
                }
            }
            assert!(
                matches!(chars.peek(), None | Some(' ')),
                "junk after a quoted value in {line:?}"
            );
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                assert!(c != '"' && c != '=', "{c:?} in a bare value in {line:?}");
                value.push(c);
                chars.next();
            }
            assert!(!value.is_empty(), "empty bare value for {key} in {line:?}");
        }
        assert!(
            out.insert(key.clone(), value).is_none(),
            "key {key} twice in {line:?}"
        );
    }
}

#[derive(Redact)]
struct Customer {
    tier: String,
    tags: Vec<String>,
    #[redact]
    card: String,
}

#[observed(event = "lf.order", fields(order_id, note, empty, formula, customer))]
fn order(order_id: u64, note: &str, empty: &str, formula: &str, customer: &Customer) -> u64 {
    order_id
}

#[observed(event = "lf.connect", fields(attempt))]
fn connect(attempt: u32) -> Result<(), std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        format!("connection refused: peer \"db-{attempt}\" at 10.0.0.7:5432 said no"),
    ))
}

#[test]
fn recorded_fields_are_logfmt_pairs_that_parse_back() {
    init();
    let customer = Customer {
        tier: "gold plus".into(),
        tags: vec!["a=b".into(), "q\"uote".into()],
        card: "4111 1111 1111 1111".into(),
    };
    assert_eq!(order(7, "say \"hi\" to C:\\tmp", "", "x=1+y", &customer), 7);
    let line = line_with("lf.order.completed");
    let kv = logfmt(&line);
    assert!(line.contains(" order_id=7 "), "{line}");
    assert_eq!(kv["order_id"], "7", "{line}");
    assert_eq!(kv["note"], "say \"hi\" to C:\\tmp", "{line}");
    assert!(line.contains(r#" note="say \"hi\" to C:\\tmp""#), "{line}");
    assert_eq!(kv["empty"], "", "{line}");
    assert!(line.contains(r#" empty="""#), "{line}");
    assert_eq!(kv["formula"], "x=1+y", "{line}");
    assert_eq!(kv["target"], module_path!(), "{line}");
    assert_eq!(kv["outcome"], "ok", "{line}");
    // The nested Redact value: one quoted compact JSON text, its secret masked.
    let nested: serde_json::Value = serde_json::from_str(&kv["customer"]).unwrap();
    assert_eq!(
        nested,
        serde_json::json!({
            "tier": "gold plus",
            "tags": ["a=b", "q\"uote"],
            "card": observa::REDACTED,
        }),
        "{line}"
    );
    assert!(!line.contains(&customer.card), "{line}");
    assert!(!line.contains("4111"), "{line}");
}

#[test]
fn error_text_with_spaces_is_one_quoted_value() {
    init();
    assert!(connect(3).is_err());
    let line = line_with("lf.connect.failed");
    let kv = logfmt(&line);
    assert_eq!(
        kv["error"], "connection refused: peer \"db-3\" at 10.0.0.7:5432 said no",
        "{line}"
    );
    assert!(
        line.contains(r#" error="connection refused: peer \"db-3\" at"#),
        "{line}"
    );
    assert_eq!(kv["attempt"], "3", "{line}");
    assert_eq!(kv["outcome"], "server_error", "{line}");
}

#[test]
fn newlines_stay_escaped_on_one_line_and_sensitive_values_stay_masked() {
    init();
    tracing::info!(
        target: "lf.foreign",
        detail = "first line\nsecond = line",
        password = "hunter2-console",
        marker = "lf-newline",
        "a foreign line"
    );
    let line = line_with("lf-newline");
    assert!(!line.contains('\n'), "{line:?}");
    let kv = logfmt(&line);
    assert_eq!(kv["detail"], "first line\nsecond = line", "{line}");
    assert!(
        line.contains(r#" detail="first line\nsecond = line""#),
        "{line}"
    );
    assert_eq!(kv["password"], observa::REDACTED, "{line}");
    assert!(!line.contains("hunter2"), "{line}");
    assert_eq!(kv["marker"], "lf-newline", "{line}");
    assert_eq!(kv["target"], "lf.foreign", "{line}");
}
