//! [`Secret<T>`]: a value that is never formatted.

use super::mask::{AsText, RedactLen};
use crate::record::{FieldValue, REDACTED, Record};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A value that must never be formatted: a password, a token, a private key.
///
/// - `Debug` writes `Secret([REDACTED])`, whatever the value, and never calls the value's own
///   formatting; `{:#?}` too.
/// - No `Display`, no `Deref`, no `Serialize`: each is a compile error that says what to do.
///   Reading the value takes an explicit, greppable [`expose`](Secret::expose).
/// - [`Record`]: recorded as [`REDACTED`], so a `Secret` may be listed in
///   `#[observed(fields(...))]` or be a field of a `#[derive(Redact)]` type without any
///   attribute.
/// - Equality (`==`) runs in constant time for the contents (through `subtle`), for `T` that is
///   bytes (`String`, `Vec<u8>`, `[u8; N]`, ...). Values of different lengths compare unequal
///   at once: the length is not treated as secret.
/// - Dropping a `Secret` made with [`Secret::new`] overwrites the value with zeros first
///   (`zeroize`, which `T` must implement: `String`, `Vec<u8>`, arrays and integers do).
///
/// ```
/// use observa::Secret;
///
/// let token = Secret::new(String::from("tok_live_8e0f"));
/// assert_eq!(format!("{token:?}"), "Secret([REDACTED])");
/// assert_eq!(token.expose(), "tok_live_8e0f");
/// ```
///
/// What zeroize-on-drop cannot cover, and why it is only a second line of defence:
/// - copies made before the value was wrapped (the request body it was parsed from, a `String`
///   that grew and was reallocated, the `serde` buffers it was deserialized from);
/// - copies made after: `expose().clone()`, `to_string()` of the exposed value, and the bytes
///   left behind when a `Secret` whose `T` stores its data inline (`[u8; 32]`, integers) is moved
///   (a move is a `memcpy` that leaves the old location untouched);
/// - heap memory that `T`'s `Zeroize` implementation does not reach;
/// - values that are never dropped (`mem::forget`, `Rc` cycles, `process::exit`, a panic with
///   `panic = "abort"`), swap, hibernation files and core dumps.
///
/// For a `T` that does not implement `Zeroize`, [`Secret::without_zeroize`] gives all of the
/// above except the wipe.
///
/// ```compile_fail
/// let s = observa::Secret::new(String::from("hunter2"));
/// println!("{s}"); // error: `Secret<String>` cannot be displayed
/// ```
///
/// ```compile_fail
/// let s = observa::Secret::new(String::from("hunter2"));
/// let n = s.len(); // error: no `Deref`; write `s.expose().len()`
/// ```
pub struct Secret<T> {
    value: T,
    wipe: Option<fn(&mut T)>,
}

/// `T` can be wiped on drop: implemented for every `zeroize::Zeroize` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be wiped when the `Secret` is dropped",
    label = "`{Self}` does not implement `zeroize::Zeroize`",
    note = "implement `zeroize::Zeroize` for `{Self}` (`observa::redact::zeroize` re-exports the crate), or use `Secret::without_zeroize` if its bytes may stay in memory after drop"
)]
pub trait Wipe {
    /// Overwrites the value with zeros.
    fn wipe(&mut self);
}

#[diagnostic::do_not_recommend]
impl<T: Zeroize + ?Sized> Wipe for T {
    #[inline]
    fn wipe(&mut self) {
        self.zeroize();
    }
}

fn wipe_value<T: Wipe>(v: &mut T) {
    v.wipe();
}

impl<T: Wipe> Secret<T> {
    /// Wraps `value`; it is zeroized when the `Secret` is dropped.
    #[inline]
    pub fn new(value: T) -> Self {
        Self {
            value,
            wipe: Some(wipe_value::<T>),
        }
    }
}

impl<T> Secret<T> {
    /// Wraps a `value` whose type cannot be zeroized. Everything but the wipe on drop applies.
    #[inline]
    pub fn without_zeroize(value: T) -> Self {
        Self { value, wipe: None }
    }

    /// The value. Every read of a secret goes through here, so it is easy to find in review.
    #[inline]
    pub fn expose(&self) -> &T {
        &self.value
    }

    /// The value, mutably.
    #[inline]
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// True when the value will be zeroized on drop.
    #[inline]
    pub fn zeroizes_on_drop(&self) -> bool {
        self.wipe.is_some()
    }
}

impl<T> Drop for Secret<T> {
    fn drop(&mut self) {
        if let Some(wipe) = self.wipe {
            wipe(&mut self.value);
        }
    }
}

impl<T> fmt::Debug for Secret<T> {
    /// `Secret([REDACTED])`: the value is never formatted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(")?;
        f.write_str(REDACTED)?;
        f.write_str(")")
    }
}

impl<T: Clone> Clone for Secret<T> {
    /// A second secret holding a copy; it is wiped on drop like the original.
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            wipe: self.wipe,
        }
    }
}

impl<T: Wipe> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: AsRef<[u8]>> PartialEq for Secret<T> {
    /// Constant time in the contents (`subtle`); unequal lengths return `false` at once.
    fn eq(&self, other: &Self) -> bool {
        self.value.as_ref().ct_eq(other.value.as_ref()).into()
    }
}

impl<T: AsRef<[u8]>> Eq for Secret<T> {}

impl<T> Record for Secret<T> {
    /// Always [`FieldValue::Redacted`].
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Redacted
    }
}

/// A `Secret` of text can take an explicit partial policy (`#[redact(last4)] card:
/// Secret<String>`); without a policy it is fully masked.
impl<T: AsText> AsText for Secret<T> {
    #[inline]
    fn as_text(&self) -> Option<&str> {
        self.value.as_text()
    }
}

impl<T: RedactLen> RedactLen for Secret<T> {
    #[inline]
    fn redact_len(&self) -> Option<usize> {
        self.value.redact_len()
    }
}

impl<'de, T: serde::Deserialize<'de> + Wipe> serde::Deserialize<'de> for Secret<T> {
    /// Reads the plain value (configuration files, request bodies) into a `Secret`.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self::new)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Never implemented: the bound of `Secret`'s `Display`, so that `format!("{secret}")` fails
/// with a message that says what to do.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`Secret<{Self}>` cannot be displayed",
    label = "a `Secret` is never formatted",
    note = "call `.expose()` where the plain value is really needed, or log the secret itself: it is recorded as `[REDACTED]`"
)]
pub trait SecretDisplay: sealed::Sealed {}

/// Never implemented: the bound of `Secret`'s `Serialize`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`Secret<{Self}>` cannot be serialized",
    label = "a `Secret` is never serialized in plain text",
    note = "serialize the redacted view `observa::redacted(&value)`, or write `#[serde(serialize_with = \"observa::redact::serialize_exposed\")]` on a field that must carry the plain value"
)]
pub trait SecretSerialize: sealed::Sealed {}

/// Does not exist: a `Secret` has no `Display`. The bound is never satisfied; it is here so
/// that the compiler explains what to do instead.
impl<T: SecretDisplay> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Does not exist: a `Secret` is not `Serialize`. The bound is never satisfied; it is here so
/// that the compiler explains what to do instead.
impl<T: SecretSerialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Serializes the plain value of a `Secret`, for the one field of a payload that must carry it
/// (a token sent to an upstream API):
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Upstream {
///     #[serde(serialize_with = "observa::redact::serialize_exposed")]
///     token: observa::Secret<String>,
/// }
/// # let u = Upstream { token: observa::Secret::new("t".into()) };
/// # assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"token":"t"}"#);
/// ```
pub fn serialize_exposed<T: serde::Serialize, S: serde::Serializer>(
    secret: &Secret<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    secret.value.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn debug_is_constant() {
        let a = Secret::new(String::from("hunter2"));
        let b = Secret::new(String::from("a much longer password"));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(format!("{a:#?}"), "Secret([REDACTED])");
    }

    #[test]
    fn equality() {
        let a = Secret::new(String::from("hunter2"));
        assert_eq!(a, Secret::new(String::from("hunter2")));
        assert_ne!(a, Secret::new(String::from("hunter3")));
        assert_ne!(a, Secret::new(String::from("hunter22")));
    }

    #[test]
    fn wipes_on_drop() {
        static WIPED: AtomicUsize = AtomicUsize::new(0);
        struct Key([u8; 4]);
        impl Zeroize for Key {
            fn zeroize(&mut self) {
                self.0.zeroize();
                WIPED.fetch_add(1, Ordering::SeqCst);
            }
        }
        drop(Secret::new(Key(*b"abcd")));
        assert_eq!(WIPED.load(Ordering::SeqCst), 1);
        let s = Secret::without_zeroize(Key(*b"abcd"));
        assert!(!s.zeroizes_on_drop());
        drop(s);
        assert_eq!(WIPED.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn deserializes() {
        let s: Secret<String> = serde_json::from_str("\"pw\"").unwrap();
        assert_eq!(s.expose(), "pw");
        assert!(s.zeroizes_on_drop());
    }
}
