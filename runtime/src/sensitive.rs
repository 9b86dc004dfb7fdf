//! Which field names are sensitive.
//!
//! One list, used everywhere a name decides:
//! - `#[observed(fields(...))]`, `#[audit(actor/target/reason/changes = ...)]`: a value is masked
//!   at compile time when its recorded name **or any identifier of its expression** is
//!   sensitive (the macro emits a `const` block that calls [`is_sensitive`] on each): paths,
//!   field names, method names and the names inside macro calls, so `fields(login = password)`,
//!   `fields(p = password.as_str())`, `fields(s = format!("{token}"))` and
//!   `#[audit(target = api_token.as_str())]` are masked. Types are not judged. The cost of a
//!   false positive (`fields(n = tokens.len())` is masked) is a hidden value, never a leak;
//!   rename the binding to show it;
//! - `#[observed(ret)]`: the return value is masked when the function's name (`api_token`,
//!   `get_password`) or an identifier of what the body returns (its tail expression and every
//!   `return` expression outside closures and async blocks) is sensitive;
//! - `#[derive(Redact)]` fully masks fields with such names that have no attribute;
//! - maps (`BTreeMap`, `HashMap` with string keys) record, and show in the `Debug` of `Redact`
//!   types, [`REDACTED`](crate::REDACTED) for the value under such a key, at every level of
//!   nesting;
//! - the log pipeline masks values recorded under such keys by code that bypasses observa.
//!
//! A name is normalised first: split into words on `_`, `-`, `.`, spaces and camelCase
//! boundaries, lowercased. It is sensitive when
//! - its letters, joined without separators, contain one of [`SUBSTRINGS`]
//!   (`userPassword`, `x-api-key`, `db_password_hash`), or
//! - one of its words is in [`WORDS`] (`card`, `pin`, `ssn`, ...), words that would give too
//!   many false positives as substrings (`spinner`, `discard`).

/// Matched anywhere in the joined, lowercased name.
pub const SUBSTRINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "authorization",
    "cookie",
    "credential",
    "csrf",
    "xsrf",
    "sessionid",
    "creditcard",
    "cardnumber",
    "bearer",
    "signature",
    "jwt",
];

/// Matched as a whole word.
pub const WORDS: &[&str] = &[
    "pwd", "auth", "session", "card", "cvv", "cvc", "ssn", "pin", "otp", "iban", "key", "salt",
    "mfa", "totp", "sig",
];

const MAX: usize = 256;

/// True when `name` is a sensitive field name. `const`, so generated code decides at compile time.
pub const fn is_sensitive(name: &str) -> bool {
    let b = name.as_bytes();
    // Joined lowercase letters and digits.
    let mut joined = [0u8; MAX];
    let mut jl = 0;
    let mut i = 0;
    while i < b.len() && jl < MAX {
        let c = b[i];
        if c.is_ascii_alphanumeric() {
            joined[jl] = c.to_ascii_lowercase();
            jl += 1;
        }
        i += 1;
    }
    let mut s = 0;
    while s < SUBSTRINGS.len() {
        if contains(&joined, jl, SUBSTRINGS[s].as_bytes()) {
            return true;
        }
        s += 1;
    }
    // Words.
    let mut start = 0;
    i = 0;
    while i <= b.len() {
        let boundary = if i == b.len() {
            true
        } else {
            let c = b[i];
            !c.is_ascii_alphanumeric()
                || (i > start && c.is_ascii_uppercase() && b[i - 1].is_ascii_lowercase())
        };
        if boundary {
            if i > start && word_listed(b, start, i) {
                return true;
            }
            start = if i < b.len() && b[i].is_ascii_alphanumeric() {
                i
            } else {
                i + 1
            };
        }
        i += 1;
    }
    false
}

const fn contains(hay: &[u8; MAX], len: usize, needle: &[u8]) -> bool {
    if needle.len() > len {
        return false;
    }
    let mut i = 0;
    while i + needle.len() <= len {
        let mut j = 0;
        while j < needle.len() && hay[i + j] == needle[j] {
            j += 1;
        }
        if j == needle.len() {
            return true;
        }
        i += 1;
    }
    false
}

const fn word_listed(b: &[u8], start: usize, end: usize) -> bool {
    let mut w = 0;
    while w < WORDS.len() {
        let word = WORDS[w].as_bytes();
        if word.len() == end - start {
            let mut j = 0;
            while j < word.len() && b[start + j].to_ascii_lowercase() == word[j] {
                j += 1;
            }
            if j == word.len() {
                return true;
            }
        }
        w += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_sensitive;

    #[test]
    fn sensitive_names() {
        for n in [
            "password",
            "Password",
            "user_password",
            "userPassword",
            "db-password-hash",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "authorization",
            "auth",
            "refresh_token",
            "accessToken",
            "client_secret",
            "session",
            "session_id",
            "csrf",
            "card",
            "card_number",
            "cvv",
            "ssn",
            "private_key",
            "credentials",
            "pin",
            "Cookie",
            "set-cookie",
        ] {
            assert!(is_sensitive(n), "{n} should be sensitive");
        }
    }

    #[test]
    fn plain_names() {
        for n in [
            "job_id", "tenant", "rows", "email", "spinner", "discard", "author", "keyboard",
            "monkey", "user_id", "amount", "opinion",
        ] {
            assert!(!is_sensitive(n), "{n} should not be sensitive");
        }
    }

    #[test]
    fn usable_in_const() {
        const S: bool = is_sensitive("api_token");
        const { assert!(S) };
    }
}
