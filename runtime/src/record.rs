//! The recording trait: how a value listed in `#[observed(fields(...))]` (or in an audit record)
//! becomes a log field, a span attribute or a nested JSON object.
//!
//! Capture is opt-in. A type can be recorded only when it implements [`Record`]; observa
//! implements it for primitives, strings, common id types, [`crate::Secret`] (always masked) and
//! every `#[derive(Redact)]` type. Anything else listed in `fields(...)` is a compile error that
//! says what to do.

use std::fmt;

/// A value that `#[observed(fields(...))]`, `#[audit]` and the log pipeline may record.
///
/// Implement it for your own id newtypes by delegating to the inner value, or derive
/// `observa::Redact` for structs and enums so sensitive fields are masked.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded by observa",
    label = "recorded by observa (listed in `fields(...)`, `ret` or an audit record) but its type does not implement `observa::Record`",
    note = "derive `observa::Redact` for it, wrap it in `observa::Secret`, record a part of it (`fields(id = value.id)`), or leave it out of `fields(...)`"
)]
pub trait Record {
    /// The value as observa records it. Must not allocate on the hot path and must already be
    /// redacted: whatever this returns may be written to any sink.
    fn record(&self) -> FieldValue<'_>;
}

/// A recorded value, borrowed from its source.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum FieldValue<'a> {
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float (non-finite values are written as strings).
    F64(f64),
    /// Text; neutralised and size-bounded by every sink.
    Str(&'a str),
    /// Text produced by formatting; neutralised and size-bounded by every sink.
    Display(&'a dyn fmt::Display),
    /// A fully masked value: always written as [`REDACTED`], whatever the input.
    Redacted,
    /// A nested object (the redacted view of a `#[derive(Redact)]` struct or enum).
    Object(&'a dyn RecordObject),
    /// A sequence of values (`Vec`, slices, sets of recordable values).
    List(&'a dyn RecordList),
    /// No value (`None`); written as JSON `null`.
    Null,
}

/// The text every sink writes for a fully masked value. Constant, so it leaks no length.
pub const REDACTED: &str = "[REDACTED]";

impl fmt::Debug for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug of a recorded value is its JSON form: already redacted.
        f.write_str(&crate::encode::json::to_json_string(*self))
    }
}

/// A nested object: visits its (already redacted) fields in order.
pub trait RecordObject {
    /// Calls `visit` once per field, in declaration order.
    fn record_fields(&self, visit: &mut dyn FnMut(&str, FieldValue<'_>));

    /// The object's own `Debug`, when it is already redacted: `#[derive(Redact)]` types return
    /// themselves, so a field of such a type keeps its declared shape in the `Debug` of the type
    /// that contains it. Other objects (maps, hand-written impls) return `None` and are shown
    /// from their recorded form, which is redacted by construction.
    #[doc(hidden)]
    fn redacted_debug(&self) -> Option<&dyn fmt::Debug> {
        None
    }
}

/// A sequence: visits its (already redacted) items in order.
pub trait RecordList {
    /// Calls `visit` once per item.
    fn record_items(&self, visit: &mut dyn FnMut(FieldValue<'_>));
}

macro_rules! record_int {
    ($variant:ident as $as:ty: $($t:ty),*) => {$(
        impl Record for $t {
            #[inline]
            fn record(&self) -> FieldValue<'_> {
                FieldValue::$variant(*self as $as)
            }
        }
    )*};
}
record_int!(I64 as i64: i8, i16, i32, i64, isize);
record_int!(U64 as u64: u8, u16, u32, u64, usize);
record_int!(F64 as f64: f32, f64);

impl Record for i128 {
    fn record(&self) -> FieldValue<'_> {
        match i64::try_from(*self) {
            Ok(v) => FieldValue::I64(v),
            Err(_) => FieldValue::Display(self),
        }
    }
}

impl Record for u128 {
    fn record(&self) -> FieldValue<'_> {
        match u64::try_from(*self) {
            Ok(v) => FieldValue::U64(v),
            Err(_) => FieldValue::Display(self),
        }
    }
}

impl Record for bool {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Bool(*self)
    }
}

impl Record for char {
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Display(self)
    }
}

impl Record for str {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Str(self)
    }
}

impl Record for String {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Str(self)
    }
}

impl Record for std::borrow::Cow<'_, str> {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Str(self)
    }
}

macro_rules! record_display {
    ($($t:ty),*) => {$(
        impl Record for $t {
            #[inline]
            fn record(&self) -> FieldValue<'_> {
                FieldValue::Display(self)
            }
        }
    )*};
}
record_display!(
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroI64,
    std::num::NonZeroUsize
);

impl Record for std::time::Duration {
    /// Recorded as milliseconds (float), the unit of `duration_ms`.
    fn record(&self) -> FieldValue<'_> {
        FieldValue::F64(self.as_secs_f64() * 1000.0)
    }
}

impl<T: Record + ?Sized> Record for &T {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        (**self).record()
    }
}

impl<T: Record + ?Sized> Record for &mut T {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        (**self).record()
    }
}

impl<T: Record + ?Sized> Record for Box<T> {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        (**self).record()
    }
}

impl<T: Record + ?Sized> Record for std::sync::Arc<T> {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        (**self).record()
    }
}

impl<T: Record + ?Sized> Record for std::rc::Rc<T> {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        (**self).record()
    }
}

impl<T: Record> Record for Option<T> {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        match self {
            Some(v) => v.record(),
            None => FieldValue::Null,
        }
    }
}

impl<T: Record> RecordList for Vec<T> {
    fn record_items(&self, visit: &mut dyn FnMut(FieldValue<'_>)) {
        for item in self {
            visit(item.record());
        }
    }
}

impl<T: Record> Record for Vec<T> {
    fn record(&self) -> FieldValue<'_> {
        FieldValue::List(self)
    }
}

impl<T: Record, const N: usize> RecordList for [T; N] {
    fn record_items(&self, visit: &mut dyn FnMut(FieldValue<'_>)) {
        for item in self {
            visit(item.record());
        }
    }
}

impl<T: Record, const N: usize> Record for [T; N] {
    fn record(&self) -> FieldValue<'_> {
        FieldValue::List(self)
    }
}

/// A map entry: the value's record, or the mask when the key is sensitive (the one rule of
/// [`crate::sensitive::is_sensitive`]: `Authorization`, `password`, `x-api-key`, ...). Nested
/// maps apply it again at their own level.
#[inline]
fn entry<'a, V: Record + ?Sized>(key: &str, value: &'a V) -> FieldValue<'a> {
    if crate::sensitive::is_sensitive(key) {
        FieldValue::Redacted
    } else {
        value.record()
    }
}

/// Records a map of string keys as a nested object (values recorded through [`Record`]); the
/// value under a sensitive key is recorded as [`REDACTED`].
impl<K: AsRef<str>, V: Record> RecordObject for std::collections::BTreeMap<K, V> {
    fn record_fields(&self, visit: &mut dyn FnMut(&str, FieldValue<'_>)) {
        for (k, v) in self {
            visit(k.as_ref(), entry(k.as_ref(), v));
        }
    }
}

impl<K: AsRef<str>, V: Record> Record for std::collections::BTreeMap<K, V> {
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Object(self)
    }
}

/// As for `BTreeMap`: values under sensitive keys are recorded as [`REDACTED`].
impl<K: AsRef<str>, V: Record, S> RecordObject for std::collections::HashMap<K, V, S> {
    fn record_fields(&self, visit: &mut dyn FnMut(&str, FieldValue<'_>)) {
        for (k, v) in self {
            visit(k.as_ref(), entry(k.as_ref(), v));
        }
    }
}

impl<K: AsRef<str>, V: Record, S> Record for std::collections::HashMap<K, V, S> {
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Object(self)
    }
}
