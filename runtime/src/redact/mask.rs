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

/// `#[redact(email)]`: the first character of the local part, `***`, `@` and the domain
/// (`j***@example.com`). Anything without a non-empty local part and domain is fully masked.
#[derive(Clone, Copy)]
pub struct EmailMask<'a>(pub(crate) Option<&'a str>);

impl EmailMask<'_> {
    fn parts(s: &str) -> Option<(&str, &str)> {
        let at = s.rfind('@')?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        let first = local.chars().next()?;
        if domain.is_empty() {
            return None;
        }
        Some((&local[..first.len_utf8()], domain))
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

/// Minimum length (in characters) at which `last4` shows the last four characters.
pub const LAST4_MIN_CHARS: usize = 12;

/// The fixed run of stars written before the last four characters: constant, so the mask does
/// not reveal the length of the value.
const LAST4_STARS: &str = "************";

/// `#[redact(last4)]`: `************4242` when the value has at least [`LAST4_MIN_CHARS`]
/// characters, the full mask otherwise.
#[derive(Clone, Copy)]
pub struct Last4Mask<'a>(pub(crate) Option<&'a str>);

impl Last4Mask<'_> {
    fn tail(s: &str) -> Option<&str> {
        let mut count = 0usize;
        let mut start = s.len();
        for (i, _) in s.char_indices().rev() {
            count += 1;
            if count == 4 {
                start = i;
            }
            if count >= LAST4_MIN_CHARS {
                return Some(&s[start..]);
            }
        }
        None
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, debug: bool) -> fmt::Result {
        let Some(s) = self.0 else {
            return f.write_str("None");
        };
        match Self::tail(s) {
            None => f.write_str(REDACTED),
            Some(tail) if debug => {
                let mut all = Stack::<32>::new();
                if plain(tail)
                    && all.push("\"")
                    && all.push(LAST4_STARS)
                    && all.push(tail)
                    && all.push("\"")
                {
                    f.write_str(all.as_str())
                } else {
                    f.write_str("\"")?;
                    f.write_str(LAST4_STARS)?;
                    write_escaped(f, tail)?;
                    f.write_str("\"")
                }
            }
            Some(tail) => {
                f.write_str(LAST4_STARS)?;
                f.write_str(tail)
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
        let m = |s: &'static str| format!("{:?}|{}", EmailMask(Some(s)), EmailMask(Some(s)));
        assert_eq!(
            m("jane@example.com"),
            "\"j***@example.com\"|j***@example.com"
        );
        assert_eq!(m("é@x.io"), "\"é***@x.io\"|é***@x.io");
        assert_eq!(m("no-at-sign"), "[REDACTED]|[REDACTED]");
        assert_eq!(m("@example.com"), "[REDACTED]|[REDACTED]");
        assert_eq!(m("jane@"), "[REDACTED]|[REDACTED]");
        assert_eq!(format!("{:?}", EmailMask(None)), "None");
        // Escapes like `Debug` of a `str`.
        assert_eq!(
            format!("{:?}", EmailMask(Some("\"x@ex\nample.com"))),
            "\"\\\"***@ex\\nample.com\""
        );
    }

    #[test]
    fn last4() {
        let m = |s: &'static str| format!("{:?}|{}", Last4Mask(Some(s)), Last4Mask(Some(s)));
        assert_eq!(
            m("4242424242424242"),
            "\"************4242\"|************4242"
        );
        assert_eq!(m("123456789012"), "\"************9012\"|************9012");
        assert_eq!(m("12345678901"), "[REDACTED]|[REDACTED]");
        assert_eq!(m(""), "[REDACTED]|[REDACTED]");
        assert_eq!(
            format!("{:?}", Last4Mask(Some("0000000000\n\"12"))),
            "\"************\\n\\\"12\""
        );
        assert_eq!(
            m("ééééééééééé1234"),
            "\"************1234\"|************1234"
        );
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
