//! The partial masks: what `email`, `last4`, `fingerprint` and `len` show of a value.
//!
//! Every mask here formats straight into the `Formatter` (no allocation) and falls back to the
//! full mask [`REDACTED`] when the input is too short or malformed to be shown partly.

use super::fingerprint;
use crate::record::{FieldValue, REDACTED};
use std::fmt;

/// Text that the partial policies (`email`, `last4`, `fingerprint`, `len`) can mask.
///
/// Implemented for `str`, `String`, `Cow<str>`, `Box<str>`, `Rc<str>`, `Arc<str>`, references and
/// boxes of them, `Option` of them (`None` is shown as `None` / JSON `null`) and
/// [`Secret`](super::Secret) of them. Implement it for your own text newtypes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not text, so a partial `redact` policy cannot mask it",
    label = "not text",
    note = "`email`, `last4` and `fingerprint` mask text (`String`, `&str`, `Cow<str>`, `Option` of them); use `#[redact]` to mask this field fully, `#[redact(with = path)]` to mask it your way, or implement `observa::redact::AsText` for `{Self}`"
)]
pub trait AsText {
    /// The text to mask, or `None` when there is no value.
    fn as_text(&self) -> Option<&str>;
}

impl AsText for str {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsText for String {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsText for std::borrow::Cow<'_, str> {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: AsText + ?Sized> AsText for &T {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

impl<T: AsText + ?Sized> AsText for &mut T {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

impl<T: AsText + ?Sized> AsText for Box<T> {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

impl<T: AsText + ?Sized> AsText for std::rc::Rc<T> {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

impl<T: AsText + ?Sized> AsText for std::sync::Arc<T> {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

impl<T: AsText> AsText for Option<T> {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        self.as_ref().and_then(AsText::as_text)
    }
}

/// A value whose length `#[redact(len)]` may show: text (length in characters) and collections
/// (number of items). `None` is shown as `None` / JSON `null`.
#[diagnostic::on_unimplemented(
    message = "`#[redact(len)]` cannot tell the length of `{Self}`",
    label = "no length",
    note = "`len` applies to text (`String`, `&str`) and collections (`Vec`, slices, maps, sets, `Option` of them); use `#[redact]` to mask this field fully or implement `observa::redact::RedactLen` for `{Self}`"
)]
pub trait RedactLen {
    /// The length to show, or `None` when there is no value.
    fn redact_len(&self) -> Option<usize>;
}

macro_rules! len_text {
    ($($t:ty),*) => {$(
        impl RedactLen for $t {
            #[inline]
            fn redact_len(&self) -> Option<usize> {
                Some(self.chars().count())
            }
        }
    )*};
}
len_text!(str, String, std::borrow::Cow<'_, str>);

macro_rules! len_collection {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> RedactLen for $t {
            #[inline]
            fn redact_len(&self) -> Option<usize> {
                Some(self.len())
            }
        }
    )*};
}
len_collection!(
    [T] [T],
    [T] Vec<T>,
    [T, const N: usize] [T; N],
    [T] std::collections::VecDeque<T>,
    [T, S] std::collections::HashSet<T, S>,
    [T] std::collections::BTreeSet<T>,
    [K, V, S] std::collections::HashMap<K, V, S>,
    [K, V] std::collections::BTreeMap<K, V>,
);

impl<T: RedactLen + ?Sized> RedactLen for &T {
    #[inline]
    fn redact_len(&self) -> Option<usize> {
        (**self).redact_len()
    }
}

impl<T: RedactLen + ?Sized> RedactLen for Box<T> {
    #[inline]
    fn redact_len(&self) -> Option<usize> {
        (**self).redact_len()
    }
}

impl<T: RedactLen + ?Sized> RedactLen for std::sync::Arc<T> {
    #[inline]
    fn redact_len(&self) -> Option<usize> {
        (**self).redact_len()
    }
}

impl<T: RedactLen> RedactLen for Option<T> {
    #[inline]
    fn redact_len(&self) -> Option<usize> {
        self.as_ref().and_then(RedactLen::redact_len)
    }
}

// ---------------------------------------------------------------------------------------------
// Policy-specific bounds: the same trait underneath, but each names its policy in the error.

/// Bound of `#[redact(email)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[redact(email)]` needs a text field, but `{Self}` is not text",
    label = "not text",
    note = "`email` masks text (`String`, `&str`, `Cow<str>`, `Option` of them); use `#[redact]` to mask this field fully, `#[redact(with = path)]` to mask it your way, or implement `observa::redact::AsText` for `{Self}`"
)]
pub trait EmailText: AsText {}
#[diagnostic::do_not_recommend]
impl<T: AsText + ?Sized> EmailText for T {}

/// Bound of `#[redact(last4)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[redact(last4)]` needs a text field, but `{Self}` is not text",
    label = "not text",
    note = "`last4` masks text (`String`, `&str`, `Cow<str>`, `Option` of them); use `#[redact]` to mask this field fully, `#[redact(with = path)]` to mask it your way, or implement `observa::redact::AsText` for `{Self}`"
)]
pub trait Last4Text: AsText {}
#[diagnostic::do_not_recommend]
impl<T: AsText + ?Sized> Last4Text for T {}

/// Bound of `#[redact(fingerprint)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[redact(fingerprint)]` needs a text field, but `{Self}` is not text",
    label = "not text",
    note = "`fingerprint` masks text (`String`, `&str`, `Cow<str>`, `Option` of them); use `#[redact]` to mask this field fully, `#[redact(with = path)]` to mask it your way, or implement `observa::redact::AsText` for `{Self}`"
)]
pub trait FingerprintText: AsText {}
#[diagnostic::do_not_recommend]
impl<T: AsText + ?Sized> FingerprintText for T {}

// ---------------------------------------------------------------------------------------------
// The masks. Each is `Copy`, borrows the text, and formats lazily: `Debug` quotes like a string
// (`"j***@example.com"`), `Display` writes the bare mask.

/// Longest domain that `#[redact(email)]` shows; a longer one is fully masked.
pub const EMAIL_MAX_DOMAIN_CHARS: usize = 32;

/// Longest local part of an address `#[redact(email)]` accepts (RFC 5321).
const EMAIL_MAX_LOCAL_CHARS: usize = 64;

/// `#[redact(email)]`: the first character of the local part, `***`, `@` and the domain
/// (`j***@example.com`), only for a value shaped like an address; anything else is fully masked.
///
/// What it reveals is bounded: at most one character of the local part (none when the local
/// part has fewer than 2 characters) and a domain of at most [`EMAIL_MAX_DOMAIN_CHARS`]
/// characters. A value is shown partly only when it has exactly one `@`, a local part of 1 to 64
/// characters among `A-Z a-z 0-9 . _ % + -`, and a domain of 2 or more dot-separated labels of
/// `A-Z a-z 0-9 -` (not starting or ending with `-`) whose last label is 2 to 12 letters. A
/// secret typed into an email field (no `@`, spaces, symbols, several `@`, an over-long or
/// odd domain) is therefore `[REDACTED]`.
#[derive(Clone, Copy)]
pub struct EmailMask<'a>(pub(crate) Option<&'a str>);

impl EmailMask<'_> {
    /// (shown first character or `""`, domain), or `None` for a full mask.
    fn parts(s: &str) -> Option<(&str, &str)> {
        let (local, domain) = s.split_once('@')?;
        let local_ok = (1..=EMAIL_MAX_LOCAL_CHARS).contains(&local.len())
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
        if !local_ok || !domain_shaped(domain) {
            return None;
        }
        // Every byte checked above is ASCII: slicing at 1 is on a character boundary.
        let first = if local.len() >= 2 { &local[..1] } else { "" };
        Some((first, domain))
    }
    fn write(&self, f: &mut fmt::Formatter<'_>, debug: bool) -> fmt::Result {
        let Some(s) = self.0 else {
            return f.write_str("None");
        };
        match Self::parts(s) {
            None => f.write_str(REDACTED),
            Some((first, domain)) if debug => {
                // `"j***@` in one write when the first character needs no escape.
                let mut head = Stack::<16>::new();
                if plain(first) && head.push("\"") && head.push(first) && head.push("***@") {
                    f.write_str(head.as_str())?;
                } else {
                    f.write_str("\"")?;
                    write_escaped(f, first)?;
                    f.write_str("***@")?;
                }
                write_escaped(f, domain)?;
                f.write_str("\"")
            }
            Some((first, domain)) => {
                f.write_str(first)?;
                f.write_str("***@")?;
                f.write_str(domain)
            }
        }
    }

    /// The recorded value: the mask as text, or `null` for `None`.
    pub fn record(&self) -> FieldValue<'_> {
        match self.0 {
            Some(_) => FieldValue::Display(self),
            None => FieldValue::Null,
        }
    }
}

/// The body of `Debug` of a `str` (escapes, no quotes), in as few writes as possible: runs that
/// need no escape go out in one `write_str`.
fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    if plain_ascii(s) {
        return f.write_str(s);
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = c.escape_debug();
        if esc.len() != 1 {
            f.write_str(&s[start..i])?;
            for e in esc {
                f.write_char(e)?;
            }
            start = i + c.len_utf8();
        }
    }
    f.write_str(&s[start..])
}

/// True when `s` is written by `Debug` as it is (no escapes).
fn plain(s: &str) -> bool {
    plain_ascii(s) || s.chars().all(|c| c.escape_debug().len() == 1)
}

/// The common case, checked by bytes: printable ASCII other than `"` and `\\`.
#[inline]
fn plain_ascii(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// A small stack buffer: joins the short pieces of a mask into one write, without allocating.
struct Stack<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Stack<N> {
    fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends `s`; false (and nothing appended) when it does not fit.
    fn push(&mut self, s: &str) -> bool {
        let end = self.len + s.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                self.len = end;
                true
            }
            None => false,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are appended.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A domain `#[redact(email)]` may show: short, ASCII, dot-separated labels, a letters-only top
/// label.
fn domain_shaped(domain: &str) -> bool {
    if !(4..=EMAIL_MAX_DOMAIN_CHARS).contains(&domain.len()) {
        return false;
    }
    let mut labels = 0;
    let mut last = "";
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && (2..=12).contains(&last.len()) && last.bytes().all(|b| b.is_ascii_alphabetic())
}

impl fmt::Debug for EmailMask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, true)
    }
}

impl fmt::Display for EmailMask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

/// Minimum number of letters and digits at which `last4` shows the last four characters.
pub const LAST4_MIN_CHARS: usize = 12;

/// The fixed run of stars written before the last four characters: constant, so the mask does
/// not reveal the length of the value.
const LAST4_STARS: &str = "************";

/// Longest value (in characters) that `last4` shows partly: card numbers and IBANs, with their
/// spaces, are shorter. A longer value is fully masked.
pub const LAST4_MAX_CHARS: usize = 64;

/// `#[redact(last4)]`: `************4242` for a value shaped like a card or account number, the
/// full mask otherwise.
///
/// It reveals at most four ASCII letters or digits, and only of a value of
/// [`LAST4_MIN_CHARS`] to [`LAST4_MAX_CHARS`] characters made of `A-Z a-z 0-9`, spaces and `-`,
/// with at least [`LAST4_MIN_CHARS`] letters or digits (a password or token typed into the field
/// is usually not that shape, and at most its last four characters would show).
#[derive(Clone, Copy)]
pub struct Last4Mask<'a>(pub(crate) Option<&'a str>);

impl Last4Mask<'_> {
    /// The last four letters or digits (separators skipped), or `None` for a full mask.
    fn tail(s: &str) -> Option<[u8; 4]> {
        if s.len() > LAST4_MAX_CHARS
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
        {
            return None;
        }
        let mut alnum = s.bytes().filter(u8::is_ascii_alphanumeric);
        if alnum.clone().count() < LAST4_MIN_CHARS {
            return None;
        }
        let mut tail = [0u8; 4];
        for slot in tail.iter_mut().rev() {
            *slot = alnum.next_back()?;
        }
        Some(tail)
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, debug: bool) -> fmt::Result {
        let Some(s) = self.0 else {
            return f.write_str("None");
        };
        let Some(tail) = Self::tail(s) else {
            return f.write_str(REDACTED);
        };
        // Letters and digits only: no escape needed, one write.
        let mut all = Stack::<32>::new();
        let tail = std::str::from_utf8(&tail).unwrap_or("****");
        let quote = if debug { "\"" } else { "" };
        if all.push(quote) && all.push(LAST4_STARS) && all.push(tail) && all.push(quote) {
            f.write_str(all.as_str())
        } else {
            f.write_str(REDACTED)
        }
    }

    /// The recorded value: the mask as text, or `null` for `None`.
    pub fn record(&self) -> FieldValue<'_> {
        match self.0 {
            Some(_) => FieldValue::Display(self),
            None => FieldValue::Null,
        }
    }
}

impl fmt::Debug for Last4Mask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, true)
    }
}

impl fmt::Display for Last4Mask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

/// `#[redact(fingerprint)]`: 8 hex characters of HMAC-SHA256 under the process key
/// (see [`fingerprint`](super::fingerprint)).
#[derive(Clone, Copy)]
pub struct FingerprintMask<'a>(pub(crate) Option<&'a str>);

impl FingerprintMask<'_> {
    fn write(&self, f: &mut fmt::Formatter<'_>, debug: bool) -> fmt::Result {
        let Some(s) = self.0 else {
            return f.write_str("None");
        };
        let hex = fingerprint::fingerprint(s).to_hex();
        let hex = std::str::from_utf8(&hex).unwrap_or(REDACTED);
        if debug {
            f.write_str("\"")?;
            f.write_str(hex)?;
            f.write_str("\"")
        } else {
            f.write_str(hex)
        }
    }

    /// The recorded value: the fingerprint as text, or `null` for `None`.
    pub fn record(&self) -> FieldValue<'_> {
        match self.0 {
            Some(_) => FieldValue::Display(self),
            None => FieldValue::Null,
        }
    }
}

impl fmt::Debug for FingerprintMask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, true)
    }
}

impl fmt::Display for FingerprintMask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

/// `#[redact(len)]`: `<redacted len=N>`.
#[derive(Clone, Copy)]
pub struct LenMask(pub(crate) Option<usize>);

impl LenMask {
    /// The recorded value: the mask as text, or `null` for `None`.
    pub fn record(&self) -> FieldValue<'_> {
        match self.0 {
            Some(_) => FieldValue::Display(self),
            None => FieldValue::Null,
        }
    }
}

impl fmt::Display for LenMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "<redacted len={n}>"),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for LenMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `#[redact(with = path)]`: the user's function formats the value.
pub struct WithMask<'a, T: ?Sized, F> {
    pub(crate) value: &'a T,
    pub(crate) func: F,
}

impl<T: ?Sized, F> WithMask<'_, T, F>
where
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
{
    /// The recorded value: the function's output as text.
    pub fn record(&self) -> FieldValue<'_> {
        FieldValue::Display(self)
    }
}

impl<T: ?Sized, F> fmt::Display for WithMask<'_, T, F>
where
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.func)(self.value, f)
    }
}

impl<T: ?Sized, F> fmt::Debug for WithMask<'_, T, F>
where
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.func)(self.value, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email() {
        let m = |s: &str| format!("{:?}|{}", EmailMask(Some(s)), EmailMask(Some(s)));
        assert_eq!(
            m("jane@example.com"),
            "\"j***@example.com\"|j***@example.com"
        );
        assert_eq!(
            m("j.doe+x@mail.co.uk"),
            "\"j***@mail.co.uk\"|j***@mail.co.uk"
        );
        // A one-character local part is not shown at all.
        assert_eq!(m("j@x.io"), "\"***@x.io\"|***@x.io");
        assert_eq!(format!("{:?}", EmailMask(None)), "None");
        // Anything not shaped like an address is fully masked.
        for odd in [
            "no-at-sign",
            "@example.com",
            "jane@",
            "é@x.io",
            "\"x@ex\nample.com",
            "a@b@example.com",
            "jane doe@example.com",
            "jane@localhost",
            "jane@example.c0m",
            "jane@-example.com",
            "jane@example..com",
            "jane@exa_mple.com",
            "jane@Sup3rS3cretToken-that-is-way-too-long.example.com",
            "hunter2-correct-horse-battery-staple",
            "P@ssw0rd!",
            "sk_live_51Hx@Zq9Tx7cAnaryPw",
        ] {
            assert_eq!(m(odd), "[REDACTED]|[REDACTED]", "{odd}");
        }
    }

    #[test]
    fn email_reveals_at_most_one_char_and_a_short_domain() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(format!("{}", EmailMask(Some(&long_local))), "[REDACTED]");
        let domain = format!("{}.io", "d".repeat(EMAIL_MAX_DOMAIN_CHARS - 3));
        assert_eq!(
            format!("{}", EmailMask(Some(&format!("jane@{domain}")))),
            format!("j***@{domain}")
        );
        let longer = format!("jane@d{domain}");
        assert_eq!(format!("{}", EmailMask(Some(&longer))), "[REDACTED]");
    }

    #[test]
    fn last4() {
        let m = |s: &str| format!("{:?}|{}", Last4Mask(Some(s)), Last4Mask(Some(s)));
        assert_eq!(
            m("4242424242424242"),
            "\"************4242\"|************4242"
        );
        assert_eq!(
            m("4242 4242 4242 4242"),
            "\"************4242\"|************4242"
        );
        // Separators are skipped: the last four letters or digits.
        assert_eq!(
            m("GB82 WEST 1234 5698 7654 32"),
            "\"************5432\"|************5432"
        );
        assert_eq!(m("123456789012"), "\"************9012\"|************9012");
        assert_eq!(m("12345678901"), "[REDACTED]|[REDACTED]");
        assert_eq!(m(""), "[REDACTED]|[REDACTED]");
        // Odd input is fully masked: symbols, non-ASCII, a tail that is not letters or digits,
        // fewer than 12 letters or digits, an over-long value.
        for odd in [
            "0000000000\n\"12",
            "ééééééééééé1234",
            "ЖщжДЯ漢字日本語한글🔑é",
            "sk_live_Zq9Tx7canaryPw",
            "1 2 3 4 5 6 7 8 9 0 1",
            &"4".repeat(LAST4_MAX_CHARS + 1),
        ] {
            assert_eq!(m(odd), "[REDACTED]|[REDACTED]", "{odd}");
        }
        // The same mask for different lengths: no length leak.
        assert_eq!(
            format!("{}", Last4Mask(Some("0000000000001234"))),
            format!("{}", Last4Mask(Some("000000000000000000001234")))
        );
    }

    #[test]
    fn len() {
        assert_eq!(format!("{:?}", LenMask(Some(532))), "<redacted len=532>");
        assert_eq!(format!("{}", LenMask(None)), "None");
        assert_eq!("héllo".redact_len(), Some(5));
        assert_eq!(vec![1, 2, 3].redact_len(), Some(3));
        assert_eq!(None::<String>.redact_len(), None);
    }
}
