//! The second line of defence: decisions by field key, for values recorded by code that bypasses
//! observa (`tracing::info!(password = %p)` in a dependency).
//!
//! The log pipeline asks [`key_action`] for every field of unknown origin and writes
//! [`REDACTED`](crate::REDACTED) for [`KeyAction::Mask`] and [`FILTERED`] for
//! [`KeyAction::Filter`]. Fields that observa itself produced (canonical fields, `#[observed]`
//! fields, `#[derive(Redact)]` output) are already redacted and do not go through here.

use crate::sensitive::is_sensitive;

/// What the production allowlist writes in place of a field it does not know.
pub const FILTERED: &str = "[FILTERED]";

/// Field keys that production logs and exported spans keep as they are for fields of unknown
/// origin (the seeds' `SAFE_FIELDS`). One list, owned here with the rest of the key policy; the
/// canonical fields the log pipeline writes itself (`timestamp`, `level`, ...) are not subject
/// to it.
pub const SAFE_FIELDS: &[&str] = &[
    "message",
    "event",
    "method",
    "path",
    "route",
    "status",
    "status_code",
    "duration_ms",
    "outcome",
    "error",
    "error_type",
    "request_id",
    "correlation_id",
    "trace_id",
    "span_id",
    "tenant_id",
    "team_id",
    "user_id",
    "job_id",
    "task_id",
    "queue",
    "count",
    "size",
    "attempt",
    "provider",
    "endpoint",
    "service",
    "operation",
    "component",
    "reason",
    "code",
    "kind",
];

/// True when values recorded under `key` must be masked whatever their origin: the single
/// sensitive-name list of [`crate::sensitive`] (`password`, `api_key`, `Authorization`,
/// `set-cookie`, ...).
///
/// Remembered per thread for keys seen before ([`KEYS_SEEN`]): [`is_sensitive`] is written to
/// run at compile time (`const`), and at run time costs about a thousand instructions a key,
/// which the exporter's thread paid for every attribute of every span it sent (about 23,000
/// instructions of a traced call's 57,000 there, issue #14). The same keys come back span after
/// span and line after line.
pub fn mask_by_key(key: &str) -> bool {
    if key.len() > SEEN_KEY_LEN {
        return is_sensitive(key);
    }
    KEYS_SEEN
        .try_with(|seen| {
            let mut seen = seen.try_borrow_mut().ok()?;
            if let Some(v) = seen.get(key) {
                return Some(*v);
            }
            let v = is_sensitive(key);
            // Full: forgotten, so that the keys a thread sees now are remembered (keys made
            // at run time, or a phase of other keys, would otherwise hold it for good).
            if seen.len() >= SEEN_KEYS {
                seen.clear();
            }
            seen.insert(key.into(), v);
            Some(v)
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| is_sensitive(key))
}

/// Keys remembered per thread at most (a thread that sees more forgets them and starts again).
const SEEN_KEYS: usize = 256;
/// Longer keys are judged each time.
const SEEN_KEY_LEN: usize = 64;

thread_local! {
    /// The keys [`mask_by_key`] judged on this thread, with their judgement.
    static KEYS_SEEN: std::cell::RefCell<rustc_hash::FxHashMap<Box<str>, bool>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// True when `key` is in `allowlist` (ASCII case-insensitive; `-` and `_` are the same).
pub fn is_allowed(key: &str, allowlist: &[&str]) -> bool {
    allowlist.iter().any(|a| same_key(a, key))
}

fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let norm = |c: u8| {
                if c == b'-' {
                    b'_'
                } else {
                    c.to_ascii_lowercase()
                }
            };
            norm(x) == norm(y)
        })
}

/// What a sink does with a field of unknown origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Write the value (neutralised and bounded as always).
    Keep,
    /// Write [`REDACTED`](crate::REDACTED): the key is sensitive.
    Mask,
    /// Write [`FILTERED`]: the allowlist is on and the key is not in it.
    Filter,
}

/// The decision for a field of unknown origin. `allowlist` is `None` in development (every key
/// but the sensitive ones is kept) and `Some(SAFE_FIELDS)` (or a configured list) in production.
/// A sensitive key is masked even when an allowlist names it.
#[inline]
pub fn key_action(key: &str, allowlist: Option<&[&str]>) -> KeyAction {
    if mask_by_key(key) {
        KeyAction::Mask
    } else {
        match allowlist {
            Some(list) if !is_allowed(key, list) => KeyAction::Filter,
            _ => KeyAction::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_judgement_is_the_judgement() {
        let keys = [
            "password",
            "rows",
            "X-Api-Key",
            "code.file.path",
            "userPassword",
            "spinner",
            "card",
            "tenant_id",
            "",
        ];
        // Twice each: judged, then remembered; then once the thread's memory is full.
        for _ in 0..2 {
            for k in keys {
                assert_eq!(mask_by_key(k), is_sensitive(k), "{k}");
            }
        }
        for i in 0..2 * SEEN_KEYS + 7 {
            let k = format!("field_{i}");
            assert_eq!(mask_by_key(&k), is_sensitive(&k), "{k}");
            assert!(KEYS_SEEN.with(|s| s.borrow().len()) <= SEEN_KEYS);
        }
        // Full, then a new key: remembered (the memory started again).
        for i in 0..SEEN_KEYS {
            mask_by_key(&format!("more_{i}"));
        }
        assert!(!mask_by_key("late_field_after_a_full_memory"));
        assert!(KEYS_SEEN.with(|s| s.borrow().contains_key("late_field_after_a_full_memory")));
        for k in ["db_secret", "Authorization"] {
            assert!(mask_by_key(k), "{k}");
            assert!(mask_by_key(k), "{k}");
        }
        // Longer than the memory takes: judged, not kept.
        let long = format!("session_token_{}", "x".repeat(SEEN_KEY_LEN));
        assert!(long.len() > SEEN_KEY_LEN);
        assert!(mask_by_key(&long));
        assert!(!KEYS_SEEN.with(|s| s.borrow().contains_key(long.as_str())));
        assert!(!mask_by_key(&"a".repeat(200)));
    }

    #[test]
    fn actions() {
        assert_eq!(key_action("password", None), KeyAction::Mask);
        assert_eq!(key_action("password", Some(&["password"])), KeyAction::Mask);
        assert_eq!(key_action("rows", None), KeyAction::Keep);
        assert_eq!(key_action("rows", Some(SAFE_FIELDS)), KeyAction::Filter);
        assert_eq!(
            key_action("correlation_id", Some(SAFE_FIELDS)),
            KeyAction::Keep
        );
        assert_eq!(
            key_action("Status-Code", Some(SAFE_FIELDS)),
            KeyAction::Keep
        );
    }

    #[test]
    fn safe_fields_are_not_sensitive() {
        for f in SAFE_FIELDS {
            assert!(!mask_by_key(f), "{f}");
        }
    }
}
