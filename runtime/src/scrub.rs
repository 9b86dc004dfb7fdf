//! The scrubber: URLs inside free text lose their credentials.
//!
//! Error messages quote URLs (`error sending request for url (https://user:pw@host/?api_key=…)`
//! from reqwest, connection strings from database drivers), and so do messages written by other
//! code. [`scrub`] finds every `scheme://…` in a text and
//! - removes the user info (`user:password@`),
//! - replaces the value of every sensitive query or fragment parameter
//!   ([`is_sensitive_param`]: the shared sensitive-name rule of [`crate::sensitive`] plus OAuth's
//!   `code`, `state`, `nonce`, signature-ish and `auth`-ish names) with
//!   [`REDACTED`](crate::REDACTED),
//!
//! and masks the value of `key=value` / `key: value` pairs whose key is sensitive anywhere in
//! the text (`password: hunter2`), and leaves the rest of the text as it is. The same function
//! scrubs panic messages, the error chains of failed requests and every text of a Sentry event. The log pipeline applies it to every error text
//! (the `error` field of completion lines, with its source chain) and every free-text value of
//! other code's events (`message`, `error = %e`, ...); audit failure messages go through it too.
//! Outbound HTTP logging builds its safe URL from the same parameter masking.
//!
//! Cost: texts without `:` or `=` are returned borrowed after one pass over their bytes.
//!
//! Limits: only URLs with a scheme are recognised (`host/path?token=x` is not); the authority
//! ends at the first `/`, so a password with a raw `/` (invalid in a URL) is cut there and its
//! tail shows; path segments are kept as written.

use crate::record::REDACTED;
use std::borrow::Cow;

/// True for query parameter and header names whose values are masked: the shared sensitive
/// list plus OAuth's `code` and signature-ish names.
pub(crate) fn is_sensitive_param(name: &str) -> bool {
    if crate::sensitive::is_sensitive(name) {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "code" | "sig" | "signature" | "client_secret" | "state" | "nonce" | "x-amz-security-token"
    ) || lower.contains("auth")
}

/// `text` with every URL scrubbed and every sensitive `key=value` / `key: value` pair masked
/// (see the module docs). Borrows when there is nothing to do.
pub(crate) fn scrub(text: &str) -> Cow<'_, str> {
    // Both rules need a `:` or an `=` (a URL's `://`, a pair's separator), which most texts
    // (names, ids, paths) have not: one pass over the bytes instead of the three searches below
    // (the exporter scrubs every string value of every span, issue #14).
    if !text.bytes().any(|b| b == b':' || b == b'=') {
        return Cow::Borrowed(text);
    }
    match scrub_urls(text) {
        Cow::Borrowed(t) => scrub_pairs(t),
        Cow::Owned(t) => Cow::Owned(scrub_pairs(&t).into_owned()),
    }
}

/// Masks the value of `key=value` and `key: value` pairs whose key is sensitive (the shared
/// rule of [`crate::sensitive`]): `password: hunter2` in a driver's message, `token=abc` outside
/// a URL. A value ends at whitespace or `& , ; # " ' )`.
fn scrub_pairs(s: &str) -> Cow<'_, str> {
    if !s.contains('=') && !s.contains(':') {
        return Cow::Borrowed(s);
    }
    let out = s;
    // Allocated at the first masked value only.
    let mut result = String::new();
    let bytes = out.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        let sep = bytes[i];
        if sep == b'=' || sep == b':' {
            let mut k = i;
            while k > 0
                && (bytes[k - 1].is_ascii_alphanumeric()
                    || bytes[k - 1] == b'_'
                    || bytes[k - 1] == b'-')
            {
                k -= 1;
            }
            let key = &out[k..i];
            let mut v = i + 1;
            if sep == b':' {
                while v < bytes.len() && bytes[v] == b' ' {
                    v += 1;
                }
            }
            let mut e = v;
            while e < bytes.len()
                && !matches!(
                    bytes[e],
                    b'&' | b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' | b'#' | b'"' | b'\'' | b')'
                )
            {
                e += 1;
            }
            // (Judged each time, not remembered: words of free text are mostly one-off.)
            if !key.is_empty() && e > v && crate::sensitive::is_sensitive(key) {
                if result.capacity() == 0 {
                    result.reserve(out.len());
                }
                result.push_str(&out[last..v]);
                result.push_str(REDACTED);
                last = e;
                i = e;
                continue;
            }
        }
        i += 1;
    }
    if last == 0 {
        return Cow::Borrowed(s);
    }
    result.push_str(&out[last..]);
    Cow::Owned(result)
}

/// `text` with every URL scrubbed. Borrows when there is nothing to do.
fn scrub_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let scheme_start = rest[..i]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(i, |(j, _)| j);
        out.push_str(&rest[..i + 3]);
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\')
            })
            .unwrap_or(after.len());
        let mut url = &after[..end];
        if scheme_start == i {
            // `://` without a scheme: not a URL, keep the text.
            out.push_str(url);
            rest = &after[end..];
            continue;
        }
        // `(https://…)`: the closing bracket belongs to the text, not to the URL.
        let closer = match rest[..scheme_start].chars().next_back() {
            Some('(') => Some(')'),
            Some('[') => Some(']'),
            Some('{') => Some('}'),
            _ => None,
        };
        let mut tail = "";
        if let Some(c) = closer
            && let Some(j) = url.rfind(c)
        {
            tail = &url[j..];
            url = &url[..j];
        }
        scrub_url(&mut out, url);
        out.push_str(tail);
        rest = &after[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Writes `url` (what follows `scheme://`) without user info, with sensitive query and fragment
/// values masked.
fn scrub_url(out: &mut String, url: &str) {
    let auth_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let auth = &url[..auth_end];
    out.push_str(match auth.rfind('@') {
        Some(j) => &auth[j + 1..],
        None => auth,
    });
    let tail = &url[auth_end..];
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    out.push_str(&tail[..path_end]);
    let mut tail = &tail[path_end..];
    while let Some(sep) = tail.chars().next() {
        // `?query` then `#fragment` (OAuth puts tokens there).
        out.push(sep);
        let body = &tail[1..];
        let end = if sep == '?' {
            body.find('#').unwrap_or(body.len())
        } else {
            body.len()
        };
        mask_pairs_into(out, &body[..end]);
        tail = &body[end..];
    }
}

/// `a=1&token=x` with sensitive values masked, keys and other values kept as sent.
#[cfg(feature = "reqwest")]
pub(crate) fn mask_pairs(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    mask_pairs_into(&mut out, q);
    out
}

/// [`mask_pairs`] into `out`; `&` and `;` separate pairs.
fn mask_pairs_into(out: &mut String, q: &str) {
    let mut rest = q;
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let pair = &rest[..end];
        match pair.split_once('=') {
            Some((k, v)) => {
                out.push_str(k);
                out.push('=');
                if is_sensitive_param(&percent_decode(k)) {
                    out.push_str(REDACTED);
                } else {
                    out.push_str(v);
                }
            }
            None => out.push_str(pair),
        }
        if end == rest.len() {
            return;
        }
        out.push_str(&rest[end..end + 1]);
        rest = &rest[end + 1..];
    }
}

/// Percent- and `+`-decoding of a query key (invalid escapes kept as written).
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn scrubs_userinfo_and_sensitive_pairs_in_error_text() {
        let s = scrub(
            "connect postgres://app:hunter2secret@db:5432/x failed; GET https://api/x?id=7&token=abcdef123 -> 500, password: pw0rdpw0rd",
        );
        assert!(!s.contains("hunter2secret"), "{s}");
        assert!(!s.contains("abcdef123"), "{s}");
        assert!(!s.contains("pw0rdpw0rd"), "{s}");
        assert!(s.contains("postgres://db:5432/x"), "{s}");
        assert!(s.contains("id=7&token=[REDACTED]"), "{s}");
        assert!(matches!(scrub("plain text"), Cow::Borrowed(_)));
        assert_eq!(scrub("ratio=0.5 at 10:30"), "ratio=0.5 at 10:30");
    }

    use super::*;

    #[test]
    fn reqwest_style_message() {
        let t = "error sending request for url (https://user:pw@api.x.com:8443/v1/a?page=2&api_key=SECRET&Signature=zz#access_token=T0K): connection refused";
        assert_eq!(
            scrub(t),
            "error sending request for url (https://api.x.com:8443/v1/a?page=2&api_key=[REDACTED]&Signature=[REDACTED]#access_token=[REDACTED]): connection refused"
        );
    }

    #[test]
    fn several_urls_and_other_schemes() {
        let t = "a postgres://app:hunter2@db:5432/x?sslmode=require b redis://:pw@r/0 \"https://h/?token=abc\" c";
        let s = scrub(t);
        assert_eq!(
            s,
            "a postgres://db:5432/x?sslmode=require b redis://r/0 \"https://h/?token=[REDACTED]\" c"
        );
    }

    #[test]
    fn encoded_keys_and_semicolons() {
        assert_eq!(
            scrub("x https://h/p?api%5Fkey=k;password=p&q=1"),
            "x https://h/p?api%5Fkey=[REDACTED];password=[REDACTED]&q=1"
        );
    }

    #[test]
    fn text_without_urls_is_borrowed() {
        assert!(matches!(scrub("no url here: a=b"), Cow::Borrowed(_)));
        assert_eq!(scrub("odd :// token=x"), "odd :// token=[REDACTED]");
        assert_eq!(scrub("ends with https://"), "ends with https://");
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("api%5Fkey"), "api_key");
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
