//! [`Redacted<T>`]: the redacted form of a recordable value, as text or through `serde`.

use crate::encode::json;
use crate::record::{FieldValue, REDACTED, Record};
use std::fmt;

/// The redacted view of a value: what observa would write to a log line.
///
/// - `Display` writes the recorded form as JSON (`{"email":"j***@example.com","password":"[REDACTED]"}`);
///   a top-level text value is written bare, like a span attribute.
/// - `serde::Serialize` serializes the same redacted structure (nested objects, lists, masks as
///   strings), so `serde_json::to_string(&observa::redacted(&v))` is safe to store or send.
/// - `Debug` is the same as `Display`.
///
/// Build it with [`redacted`](crate::redacted). Any [`Record`] type works: `#[derive(Redact)]`
/// types, [`Secret`](super::Secret)s, primitives and collections of them.
#[derive(Clone, Copy)]
pub struct Redacted<T>(T);

/// The redacted view of `value`: `Display` and `serde::Serialize` of its redacted form.
///
/// ```
/// use observa::Redact;
///
/// #[derive(Redact)]
/// struct Login {
///     #[redact(email)]
///     email: String,
///     password: String,
/// }
///
/// let login = Login { email: "jane@example.com".into(), password: "hunter2".into() };
/// let v = observa::redacted(&login);
/// assert_eq!(v.to_string(), r#"{"email":"j***@example.com","password":"[REDACTED]"}"#);
/// assert_eq!(serde_json::to_string(&v).unwrap(), v.to_string());
/// ```
#[inline]
pub fn redacted<T: Record + ?Sized>(value: &T) -> Redacted<&T> {
    Redacted(value)
}

impl<T: Record> Redacted<T> {
    /// Wraps a recordable value (usually a reference).
    #[inline]
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The recorded (already redacted) value.
    #[inline]
    pub fn value(&self) -> FieldValue<'_> {
        self.0.record()
    }
}

impl<T: Record> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        match self.0.record() {
            FieldValue::Str(s) => json::write_str_body(&mut out, s, usize::MAX),
            FieldValue::Redacted => return f.write_str(REDACTED),
            v => json::write_value(&mut out, v, usize::MAX),
        }
        f.write_str(std::str::from_utf8(&out).unwrap_or(REDACTED))
    }
}

impl<T: Record> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T: Record> serde::Serialize for Redacted<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SerValue(self.0.record()).serialize(serializer)
    }
}

/// `serde::Serialize` of a recorded value.
struct SerValue<'a>(FieldValue<'a>);

impl serde::Serialize for SerValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap, SerializeSeq};
        match self.0 {
            FieldValue::Bool(b) => serializer.serialize_bool(b),
            FieldValue::I64(i) => serializer.serialize_i64(i),
            FieldValue::U64(u) => serializer.serialize_u64(u),
            FieldValue::F64(x) => serializer.serialize_f64(x),
            FieldValue::Str(s) => serializer.serialize_str(s),
            FieldValue::Display(d) => serializer.collect_str(d),
            FieldValue::Redacted => serializer.serialize_str(REDACTED),
            FieldValue::Null => serializer.serialize_none(),
            FieldValue::Object(obj) => {
                let mut map = serializer.serialize_map(None)?;
                let mut err = None;
                obj.record_fields(&mut |k, v| {
                    if err.is_none()
                        && let Err(e) = map.serialize_entry(k, &SerValue(v))
                    {
                        err = Some(e);
                    }
                });
                match err {
                    Some(e) => Err(e),
                    None => map.end(),
                }
            }
            FieldValue::List(list) => {
                let mut seq = serializer.serialize_seq(None)?;
                let mut err = None;
                list.record_items(&mut |v| {
                    if err.is_none()
                        && let Err(e) = seq.serialize_element(&SerValue(v))
                    {
                        err = Some(e);
                    }
                });
                match err {
                    Some(e) => Err(e),
                    None => seq.end(),
                }
            }
            #[allow(unreachable_patterns)]
            _ => Err(S::Error::custom("unsupported recorded value")),
        }
    }
}
