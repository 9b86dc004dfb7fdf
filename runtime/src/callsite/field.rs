//! Values of a call: what the attribute binds into the context ([`CallBinding`], [`bound_value`]),
//! the recorded fields on the span ([`new_span`]) and their masks ([`MaskedField`], [`field`]), and
//! the `ret` value.

use super::site::Site;
use crate::completion::{SPAN_HEAD, SPAN_TAIL};
use crate::context::{self, BindValue, Context, Frame, Id};
use crate::encode::json::DisplayValue;
use crate::record::{FieldValue, Record};
use std::fmt;
use tracing::Span;
use tracing::field::Value;

/// What the attribute binds into the context for the call.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
#[derive(Clone, Copy, Default)]
pub struct CallBinding<'a> {
    /// `tenant`
    pub tenant: Option<BindValue<'a>>,
    /// `user`
    pub user: Option<BindValue<'a>>,
    /// `correlation`
    pub correlation: Option<BindValue<'a>>,
    /// `bind(name, name = expr, ...)`: named values bound for the call.
    pub fields: &'a [(&'static str, &'a dyn fmt::Display)],
}

impl CallBinding<'_> {
    /// Binds nothing.
    pub const NONE: CallBinding<'static> = CallBinding {
        tenant: None,
        user: None,
        correlation: None,
        fields: &[],
    };

    pub(super) fn is_empty(&self) -> bool {
        self.tenant.is_none()
            && self.user.is_none()
            && self.correlation.is_none()
            && self.fields.is_empty()
    }

    /// Binds only ids (`tenant`, `user`, `correlation`): a [`context::Frame`] can write them in
    /// place.
    #[inline]
    pub(super) fn ids_only(&self) -> bool {
        self.fields.is_empty()
    }
}

// A bound id by autoref specialisation (no trait bound the user sees): strings are copied as
// they are (`BindValue::Str`), anything else `Display` is formatted (`BindValue::Display`).
// The macro writes `(&BindProbe(&(expr))).__observa_bind()`.

/// Wraps a bound value for the probe.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct BindProbe<'a, T: ?Sized>(pub &'a T);

/// Types whose `Display` is exactly their text: bound without formatting.
#[doc(hidden)]
pub trait BindStr {
    fn bind_str(&self) -> &str;
}

impl BindStr for str {
    #[inline]
    fn bind_str(&self) -> &str {
        self
    }
}

impl BindStr for String {
    #[inline]
    fn bind_str(&self) -> &str {
        self
    }
}

impl BindStr for Id {
    #[inline]
    fn bind_str(&self) -> &str {
        self.as_str()
    }
}

impl BindStr for Box<str> {
    #[inline]
    fn bind_str(&self) -> &str {
        self
    }
}

impl BindStr for std::sync::Arc<str> {
    #[inline]
    fn bind_str(&self) -> &str {
        self
    }
}

impl BindStr for std::rc::Rc<str> {
    #[inline]
    fn bind_str(&self) -> &str {
        self
    }
}

impl BindStr for std::borrow::Cow<'_, str> {
    #[inline]
    fn bind_str(&self) -> &str {
        self
    }
}

impl<T: BindStr + ?Sized> BindStr for &T {
    #[inline]
    fn bind_str(&self) -> &str {
        (**self).bind_str()
    }
}

impl<T: BindStr + ?Sized> BindStr for &mut T {
    #[inline]
    fn bind_str(&self) -> &str {
        (**self).bind_str()
    }
}

/// A string: bound as it is.
#[doc(hidden)]
pub trait BindViaStr<'a> {
    fn __observa_bind(&self) -> BindValue<'a>;
}

impl<'a, T: BindStr + ?Sized> BindViaStr<'a> for BindProbe<'a, T> {
    #[inline(always)]
    fn __observa_bind(&self) -> BindValue<'a> {
        BindValue::Str(self.0.bind_str())
    }
}

/// Anything else `Display`: formatted.
#[doc(hidden)]
pub trait BindViaDisplay<'a> {
    fn __observa_bind(&self) -> BindValue<'a>;
}

impl<'a, T: fmt::Display> BindViaDisplay<'a> for &BindProbe<'a, T> {
    #[inline(always)]
    fn __observa_bind(&self) -> BindValue<'a> {
        BindValue::Display(self.0)
    }
}

/// The context an async call (or a call that binds named values) runs in: the caller's plus
/// what the attribute binds. `None` when the call changes nothing (the common nested case: no
/// swap at all).
pub(super) fn call_context(bind: &CallBinding<'_>) -> Option<Context> {
    if bind.is_empty() {
        if context::has_correlation() {
            return None;
        }
        let mut c = context::current_raw();
        c.set_correlation_pending();
        return Some(c);
    }
    // User code (`Display` of the bound values) first, before the caller's context is read.
    let tenant = bind.tenant.map(BindValue::to_id);
    let user = bind.user.map(BindValue::to_id);
    let correlation = bind.correlation.map(BindValue::to_id);
    let mut c = context::current();
    if let Some(t) = tenant {
        c.set_tenant(t);
    }
    if let Some(u) = user {
        c.set_user(u);
    }
    if let Some(k) = correlation {
        c.set_correlation(k);
    }
    for (name, v) in bind.fields {
        let r = c.set_field(name, *v);
        context::report(name, r);
    }
    if !c.has_correlation() {
        c.set_correlation_pending();
    }
    Some(c)
}

/// The frame of a sync call that binds only ids (see [`context::Frame`]); `None` when it would
/// change nothing (nothing bound, a correlation id in scope). Formats `Display` values (user
/// code) before anything is changed.
#[inline]
pub(super) fn call_frame(bind: &CallBinding<'_>) -> Option<Frame> {
    if bind.tenant.is_none()
        && bind.user.is_none()
        && bind.correlation.is_none()
        && !Frame::needed_unbound()
    {
        return None;
    }
    let tenant = bind.tenant.map(BindValue::to_id);
    let user = bind.user.map(BindValue::to_id);
    let correlation = bind.correlation.map(BindValue::to_id);
    Some(Frame::enter(tenant, user, correlation))
}

pub(super) fn new_span(
    site: &'static Site,
    ctx: Option<&mut Context>,
    values: &[&dyn Record],
) -> Span {
    // The span carries the context: materialise the correlation id it owes. The current one is
    // read in place (no copy of the context).
    match ctx {
        Some(c) => {
            c.materialize_pending();
            new_span_in(site, c, values)
        }
        None => context::with_current(|c| new_span_in(site, c, values)),
    }
}

fn new_span_in(site: &'static Site, ctx: &Context, values: &[&dyn Record]) -> Span {
    let meta = site.span_meta();
    let fs = meta.fields();
    let corr = ctx.correlation_id();
    let tenant = ctx.tenant_id();
    let user = ctx.user_id();
    let ids: [Option<&dyn Value>; SPAN_HEAD] = [
        corr.as_ref().map(|v| v as &dyn Value),
        tenant.as_ref().map(|v| v as &dyn Value),
        user.as_ref().map(|v| v as &dyn Value),
    ];
    // Up to `INLINE` recorded fields on the stack; more (rare) in a `Vec`.
    const INLINE: usize = 8;
    if values.len() <= INLINE {
        let mut shown: [Option<SpanValue<'_>>; INLINE] = [const { None }; INLINE];
        for (slot, v) in shown.iter_mut().zip(values) {
            *slot = Some(SpanValue::of(v.record()));
        }
        const EXTRA: usize = SPAN_HEAD + SPAN_TAIL;
        let mut vals: [Option<&dyn Value>; INLINE + EXTRA] = [None; INLINE + EXTRA];
        vals[..SPAN_HEAD].copy_from_slice(&ids);
        for (slot, v) in vals[SPAN_HEAD..].iter_mut().zip(shown.iter().flatten()) {
            *slot = Some(v.as_value());
        }
        return Span::new(meta, &fs.value_set_all(&vals[..EXTRA + values.len()]));
    }
    let shown: Vec<SpanValue<'_>> = values.iter().map(|v| SpanValue::of(v.record())).collect();
    let mut vals: Vec<Option<&dyn Value>> =
        Vec::with_capacity(SPAN_HEAD + SPAN_TAIL + values.len());
    vals.extend(ids);
    for v in &shown {
        vals.push(Some(v.as_value()));
    }
    vals.extend([None; SPAN_TAIL]);
    Span::new(meta, &fs.value_set_all(&vals))
}

/// A recorded value as a span attribute: native scalars, everything else as text/JSON.
enum SpanValue<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Text(tracing::field::DisplayValue<DisplayValue<'a>>),
}

impl<'a> SpanValue<'a> {
    fn of(v: FieldValue<'a>) -> SpanValue<'a> {
        match v {
            FieldValue::Bool(b) => SpanValue::Bool(b),
            FieldValue::I64(i) => SpanValue::I64(i),
            FieldValue::U64(u) => SpanValue::U64(u),
            FieldValue::F64(f) => SpanValue::F64(f),
            v => SpanValue::Text(tracing::field::display(DisplayValue(v))),
        }
    }

    fn as_value(&self) -> &dyn Value {
        match self {
            SpanValue::Bool(b) => b,
            SpanValue::I64(i) => i,
            SpanValue::U64(u) => u,
            SpanValue::F64(f) => f,
            SpanValue::Text(t) => t,
        }
    }
}

/// `fields(...)` value for a name decided sensitive at compile time.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct MaskedField;

impl Record for MaskedField {
    #[inline]
    fn record(&self) -> FieldValue<'_> {
        FieldValue::Redacted
    }
}

/// Picks the value or the mask at compile time (`SENSITIVE` is a `const` computed by
/// [`crate::sensitive::is_sensitive`] on the field name). The value must be recordable either way.
#[doc(hidden)]
#[inline(always)]
pub fn field<const SENSITIVE: bool, T: Record>(v: &T) -> &dyn Record {
    if SENSITIVE { &MaskedField } else { v }
}

/// `ret` on a function returning `Result<T, _>`: the `Ok` value.
#[doc(hidden)]
pub fn ret_ok<T: Record, E>(r: &Result<T, E>) -> Option<&dyn Record> {
    r.as_ref().ok().map(|v| v as &dyn Record)
}

/// `ret` on any other function.
#[doc(hidden)]
pub fn ret_plain<T: Record>(r: &T) -> Option<&dyn Record> {
    Some(r)
}

/// A value of `bind(...)`: itself, or `[REDACTED]` (never formatted) when its name or
/// expression is sensitive.
#[doc(hidden)]
pub fn bound_value<const SENSITIVE: bool, T: fmt::Display>(v: &T) -> &dyn fmt::Display {
    if SENSITIVE {
        &crate::record::REDACTED
    } else {
        v
    }
}
