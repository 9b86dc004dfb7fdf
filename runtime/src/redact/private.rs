//! What `#[derive(Redact)]` expands to calls. Reached through `observa::__private`; not public
//! API.
//!
//! Each field of a derived type goes through one constructor here, chosen by its policy, and the
//! constructor is the only place where the field's type is checked against the policy. The same
//! constructor call, with the same span, appears in the `Debug` and in the `Record` impls, so a
//! misuse is reported once (the compiler merges identical diagnostics).

use super::mask::{EmailMask, FingerprintMask, Last4Mask, LenMask, WithMask};
use crate::record::{FieldValue, REDACTED, Record, RecordList, RecordObject};
use std::fmt;

pub use super::mask::{AsText, EmailText, FingerprintText, Last4Text, RedactLen};
pub use crate::sensitive::is_sensitive;

/// A fully masked field: writes [`REDACTED`] and never looks at the value.
#[derive(Clone, Copy)]
pub struct Masked;

impl fmt::Debug for Masked {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Recorded as [`FieldValue::Redacted`].
struct MaskedRecord;

impl Record for MaskedRecord {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Redacted
    }
}

/// How a field without a policy is shown, by the sensitivity of its name: `T: ShowAs<{
/// is_sensitive("name") }>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shown by `#[derive(Redact)]`",
    label = "this field is shown, so its type must implement `Debug` and `observa::Record`",
    note = "derive `observa::Redact` for `{Self}`, mask the field with `#[redact]`, format it yourself with `#[redact(with = path)]`, or wrap it in `observa::Secret`"
)]
pub trait ShowAs<const SENSITIVE: bool> {
    /// The field's `Debug` and `Record` views.
    fn shown(&self) -> Shown<'_>;
}

/// A sensitive name: fully masked, the value is never touched.
impl<T> ShowAs<true> for T {
    #[inline(always)]
    fn shown(&self) -> Shown<'_> {
        Shown {
            debug: &Masked,
            record: &MaskedRecord,
        }
    }
}

/// Any other name: shown through its own (redacting, for `Redact` types) `Debug` and `Record`.
#[diagnostic::do_not_recommend]
impl<T: fmt::Debug + Record> ShowAs<false> for T {
    #[inline(always)]
    fn shown(&self) -> Shown<'_> {
        Shown {
            debug: self,
            record: self,
        }
    }
}

/// A field shown by the sensitivity of its name (or marked `public`).
///
/// Its `Debug` is the type's own, unless the recorded form holds a map (or another object
/// without a redacted `Debug`) outside any `#[derive(Redact)]` type: the standard library's
/// `Debug` of a map shows every value, so such a field is written from its recorded form, where
/// values under sensitive keys are already masked.
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    debug: &'a dyn fmt::Debug,
    record: &'a dyn Record,
}

impl<'a> Shown<'a> {
    /// The field's own `Debug` (not map-aware; the derive writes the `Shown` itself).
    #[inline(always)]
    pub fn debug(&self) -> &'a dyn fmt::Debug {
        self.debug
    }

    /// The recorded field.
    #[inline(always)]
    pub fn record(&self) -> FieldValue<'a> {
        self.record.record()
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let recorded = self.record.record();
        if holds_bare_object(recorded) {
            fmt::Debug::fmt(&RecordDebug(recorded), f)
        } else {
            self.debug.fmt(f)
        }
    }
}

/// True when `v` reaches an object without a redacted `Debug` (a map) through lists and such
/// objects.
fn holds_bare_object(v: FieldValue<'_>) -> bool {
    match v {
        FieldValue::Object(o) => o.redacted_debug().is_none(),
        FieldValue::List(l) => {
            let mut found = false;
            l.record_items(&mut |item| found = found || holds_bare_object(item));
            found
        }
        _ => false,
    }
}

/// `Debug` of a recorded value, in the standard shapes (`{"k": v}`, `[a, b]`, quoted text);
/// objects with a redacted `Debug` of their own use it.
struct RecordDebug<'a>(FieldValue<'a>);

impl fmt::Debug for RecordDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FieldValue::Bool(b) => fmt::Debug::fmt(&b, f),
            FieldValue::I64(i) => fmt::Debug::fmt(&i, f),
            FieldValue::U64(u) => fmt::Debug::fmt(&u, f),
            FieldValue::F64(x) => fmt::Debug::fmt(&x, f),
            FieldValue::Str(s) => fmt::Debug::fmt(s, f),
            FieldValue::Display(d) => fmt::Debug::fmt(&d.to_string(), f),
            FieldValue::Null => f.write_str("None"),
            FieldValue::Object(o) => match o.redacted_debug() {
                Some(d) => d.fmt(f),
                None => {
                    let mut m = f.debug_map();
                    o.record_fields(&mut |k, v| {
                        m.entry(&k, &RecordDebug(v));
                    });
                    m.finish()
                }
            },
            FieldValue::List(l) => {
                let mut d = f.debug_list();
                l.record_items(&mut |v| {
                    d.entry(&RecordDebug(v));
                });
                d.finish()
            }
            FieldValue::Redacted => f.write_str(REDACTED),
        }
    }
}

/// `ret` of `#[observed]`: the mask when `SENSITIVE` (the fn's name or an identifier of what it
/// returns is sensitive, decided at compile time), the value otherwise.
#[inline(always)]
pub fn ret<const SENSITIVE: bool>(value: Option<&dyn Record>) -> Option<&dyn Record> {
    match value {
        Some(_) if SENSITIVE => Some(&MaskedRecord),
        v => v,
    }
}

/// A field without a policy: masked when `SENSITIVE`, shown otherwise.
#[inline(always)]
pub fn show<const SENSITIVE: bool, T: ShowAs<SENSITIVE>>(value: &T) -> Shown<'_> {
    value.shown()
}

/// `#[redact(email)]`.
#[inline(always)]
pub fn email<T: EmailText + ?Sized>(value: &T) -> EmailMask<'_> {
    EmailMask(value.as_text())
}

/// `#[redact(last4)]`.
#[inline(always)]
pub fn last4<T: Last4Text + ?Sized>(value: &T) -> Last4Mask<'_> {
    Last4Mask(value.as_text())
}

/// `#[redact(fingerprint)]`.
#[inline(always)]
pub fn fingerprint<T: FingerprintText + ?Sized>(value: &T) -> FingerprintMask<'_> {
    FingerprintMask(value.as_text())
}

/// `#[redact(len)]`.
#[inline(always)]
pub fn len<T: RedactLen + ?Sized>(value: &T) -> LenMask {
    LenMask(value.redact_len())
}

/// `#[redact(with = path)]`.
#[inline(always)]
pub fn with<T: ?Sized, F>(value: &T, func: F) -> WithMask<'_, T, F>
where
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
{
    WithMask { value, func }
}

/// The payload object of an enum variant with named fields.
#[allow(missing_debug_implementations)]
pub struct FieldsFn<F>(F);

/// Builds the payload object of an enum variant with named fields.
#[inline(always)]
pub fn fields_fn<F>(f: F) -> FieldsFn<F>
where
    F: Fn(&mut dyn FnMut(&str, FieldValue<'_>)),
{
    FieldsFn(f)
}

impl<F> RecordObject for FieldsFn<F>
where
    F: Fn(&mut dyn FnMut(&str, FieldValue<'_>)),
{
    #[inline]
    fn record_fields(&self, visit: &mut dyn FnMut(&str, FieldValue<'_>)) {
        (self.0)(visit)
    }
}

/// The payload list of an enum variant (or a struct) with several unnamed fields.
#[allow(missing_debug_implementations)]
pub struct ItemsFn<F>(F);

/// Builds the payload list of an enum variant with several unnamed fields.
#[inline(always)]
pub fn items_fn<F>(f: F) -> ItemsFn<F>
where
    F: Fn(&mut dyn FnMut(FieldValue<'_>)),
{
    ItemsFn(f)
}

impl<F> RecordList for ItemsFn<F>
where
    F: Fn(&mut dyn FnMut(FieldValue<'_>)),
{
    #[inline]
    fn record_items(&self, visit: &mut dyn FnMut(FieldValue<'_>)) {
        (self.0)(visit)
    }
}

/// What a derive emits when its input is rejected: keeps the type usable (fully masked) so the
/// user sees the one real error, not a cascade of "does not implement `Debug`".
#[inline]
pub fn fallback_debug(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(REDACTED)
}
