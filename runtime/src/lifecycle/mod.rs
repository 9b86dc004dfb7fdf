//! Lifecycles of long-lived work: WebSocket connections ([`ws`]), background jobs ([`worker`]),
//! and the slow-call threshold of `#[observed(slow_ms = N)]`.
//!
//! Every line here has a stable `event` id, carries the context it runs in (correlation, tenant,
//! user, and `connection_id` for a connection), and never the content of a message or a job
//! payload: sizes, types, codes, counts and durations only. Metric labels come from
//! `&'static str` values chosen in code (endpoint, job type, message type), so a client cannot
//! create series. These are observa's own lines: their fields are kept whole in production,
//! where fields of other code's events are filtered to the allowlist.

pub(crate) mod slow;
pub mod worker;
pub mod ws;

/// Appends `"key":<value>` to a JSON object text held in `buf` (`{...}`), creating it when
/// `buf` is empty (the shape of the `fields` member of completion events).
pub(crate) fn push_member(buf: &mut Vec<u8>, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
    if buf.is_empty() {
        buf.push(b'{');
    } else {
        buf.pop();
        if buf.len() > 1 {
            buf.push(b',');
        }
    }
    crate::encode::json::write_str(buf, key, 64);
    buf.push(b':');
    value(buf);
    buf.push(b'}');
}

#[cfg(test)]
mod tests {
    #[test]
    fn members_make_one_object() {
        let mut b = Vec::new();
        super::push_member(&mut b, "a", |o| o.extend_from_slice(b"1"));
        super::push_member(&mut b, "b", |o| o.extend_from_slice(b"2"));
        assert_eq!(b, br#"{"a":1,"b":2}"#);
        let mut b = b"{}".to_vec();
        super::push_member(&mut b, "c", |o| o.extend_from_slice(b"3"));
        assert_eq!(b, br#"{"c":3}"#);
    }
}
