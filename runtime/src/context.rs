//! The request context: correlation id, tenant id, user id and trace parent.
//!
//! The context of the running code lives in a thread-local slot that observa swaps in and out:
//! a sync `#[observed]` call installs its context for the duration of the body, an async one
//! around every `poll` of its body (the way `tracing::Instrument` enters a span). So a context is
//! never visible outside the call or task it belongs to, nested calls inherit it, and a task
//! spawned with [`spawn`] (or a future wrapped with [`FutureExt::in_current_context`]) carries a
//! copy of it.
//!
//! Isolation: nothing observa installs outlives the call, task or scope that installed it, also
//! when user code panics while a call starts, polls or finishes (a `Record` impl, a redaction
//! mask, the `Display` of a bound value, a subscriber). Every change to this thread's slot is
//! made through a guard that undoes it on drop, built before any user code runs, so unwinding
//! restores the caller's context exactly. Only [`bind`] called outside any scope changes the
//! thread's base context, by design.
//!
//! Ids are stored inline when short (up to 46 bytes: UUIDs, ULIDs, tenant slugs) so binding a
//! tenant does not allocate.
//!
//! Correlation ids: a call that starts with no correlation id in scope gets one, generated lazily
//! the first time something reads it (a log line, a span, an audit record, a spawned task), so
//! instrumented code that logs nothing pays nothing for it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

/// Longest id kept inline.
const INLINE: usize = 46;

/// An id in the context (correlation, tenant, user). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(Repr);

/// Inline ids are `arrayvec::ArrayString`s: text checked once when the id is built (it comes
/// from a `&str`, or is generated hex) and read back as `&str` with no check. A plain
/// `[u8; INLINE]` buffer needs `str::from_utf8` on every read (the crate forbids the unchecked
/// conversion), and ids are read on every log line: that check was ~250 instructions a line.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Inline(arrayvec::ArrayString<INLINE>),
    Shared(Arc<str>),
}

impl Id {
    /// An id from text. Control characters and other dangerous characters are kept (every sink
    /// neutralises on output); the HTTP layer validates ids at intake.
    pub fn new(s: &str) -> Id {
        match arrayvec::ArrayString::from(s) {
            Ok(inline) => Id(Repr::Inline(inline)),
            Err(_) => Id(Repr::Shared(Arc::from(s))),
        }
    }

    /// A fresh random id: 32 lowercase hex characters (128 bits), the shape of nginx's
    /// `$request_id` and of a W3C trace id.
    pub fn generate() -> Id {
        let digits = crate::encode::hex::u128_digits(crate::encode::rand::u128());
        // ASCII hex: the one UTF-8 check of this id (its reads check nothing).
        Id::new(std::str::from_utf8(&digits).unwrap_or_default())
    }

    /// An id from a `Display` value, formatted without allocating when it is short.
    pub fn from_display(v: &dyn fmt::Display) -> Id {
        struct Buf {
            inline: arrayvec::ArrayString<INLINE>,
            spill: Option<String>,
        }
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if let Some(sp) = &mut self.spill {
                    sp.push_str(s);
                } else if self.inline.try_push_str(s).is_err() {
                    let mut sp = String::with_capacity(self.inline.len() + s.len());
                    sp.push_str(&self.inline);
                    sp.push_str(s);
                    self.spill = Some(sp);
                }
                Ok(())
            }
        }
        let mut b = Buf {
            inline: arrayvec::ArrayString::new(),
            spill: None,
        };
        let _ = fmt::write(&mut b, format_args!("{v}"));
        match b.spill {
            Some(s) => Id(Repr::Shared(Arc::from(s))),
            None => Id(Repr::Inline(b.inline)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Id {
        Id::new(s)
    }
}

impl From<String> for Id {
    fn from(s: String) -> Id {
        Id::new(&s)
    }
}

/// Where a request came from: set by the HTTP layer, read by audit records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestSource {
    /// Client IP address (from the connection, or the first `X-Forwarded-For` hop).
    pub client_ip: Option<String>,
    /// The `User-Agent` header, bounded.
    pub user_agent: Option<String>,
    /// A keyed fingerprint of the session (never the session token itself).
    pub session_fingerprint: Option<String>,
}

/// The named values bound in a context (shared; copied on write).
pub(crate) type BoundFields = Arc<Vec<(Arc<str>, Arc<str>)>>;

/// The observability context of a request, job or call.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Context {
    correlation_id: Option<Id>,
    /// A correlation id is owed: generate one on first read.
    correlation_pending: bool,
    tenant_id: Option<Id>,
    user_id: Option<Id>,
    /// Always longer than an inline id (55 characters): kept as the shared text, so the
    /// context (copied into and out of the thread's slot) stays smaller.
    traceparent: Option<Arc<str>>,
    source: Option<Arc<RequestSource>>,
    /// A long-lived connection (WebSocket) this code serves: on every line as `connection_id`.
    connection_id: Option<Arc<str>>,
    /// Named values bound for the scope (`bind(...)`, [`bind_field`]), in binding order.
    fields: Option<BoundFields>,
    /// Unique per request served by the HTTP layer (not client-controlled): what per-request
    /// state (Sentry breadcrumbs) is keyed by.
    request_key: Option<u64>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("correlation_id", &self.correlation_id)
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("traceparent", &self.traceparent)
            .field("connection_id", &self.connection_id)
            .field("fields", &self.fields)
            .finish()
    }
}

impl Context {
    /// The empty context (`const`, so the thread-local slot needs no lazy initialisation).
    pub(crate) const EMPTY: Context = Context {
        correlation_id: None,
        correlation_pending: false,
        tenant_id: None,
        user_id: None,
        traceparent: None,
        source: None,
        connection_id: None,
        fields: None,
        request_key: None,
    };

    /// Makes this context [`Context::EMPTY`] in place: each field set to none, which writes
    /// only their tags (assigning `EMPTY` copied the whole constant: about 230 bytes through
    /// `memcpy` at the end of every fast-path call whose context was read). The pattern names
    /// every field, so a new one cannot be missed.
    #[inline]
    fn clear(&mut self) {
        let Context {
            correlation_id,
            correlation_pending,
            tenant_id,
            user_id,
            traceparent,
            source,
            connection_id,
            fields,
            request_key,
        } = self;
        *correlation_id = None;
        *correlation_pending = false;
        *tenant_id = None;
        *user_id = None;
        *traceparent = None;
        *source = None;
        *connection_id = None;
        *fields = None;
        *request_key = None;
    }

    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// This context with `id` as correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<Id>) -> Context {
        self.correlation_id = Some(id.into());
        self.correlation_pending = false;
        self
    }

    /// This context with `id` as tenant id.
    pub fn with_tenant_id(mut self, id: impl Into<Id>) -> Context {
        self.tenant_id = Some(id.into());
        self
    }

    /// This context with `id` as user id.
    pub fn with_user_id(mut self, id: impl Into<Id>) -> Context {
        self.user_id = Some(id.into());
        self
    }

    /// This context continuing the W3C trace `traceparent`.
    pub fn with_traceparent(mut self, tp: impl Into<Id>) -> Context {
        self.traceparent = Some(match tp.into().0 {
            Repr::Shared(s) => s,
            inline => Arc::from(Id(inline).as_str()),
        });
        self
    }

    /// This context with the request's source (client ip, user agent, session fingerprint).
    pub fn with_source(mut self, source: RequestSource) -> Context {
        self.source = Some(Arc::new(source));
        self
    }

    /// This context serving the connection `id` (see [`crate::lifecycle::ws`]): every line
    /// written in it carries `connection_id`.
    pub fn with_connection_id(mut self, id: &str) -> Context {
        self.connection_id = Some(Arc::from(id));
        self
    }

    /// This context with the named value `name` bound (see [`bind_field`] for the rules). A
    /// name or value that breaks them is left out, counted and logged.
    pub fn with_field(mut self, name: &str, value: impl fmt::Display) -> Context {
        let r = self.set_field(name, &value);
        report(name, r);
        self
    }

    /// The bound named values, in binding order (sensitive names masked).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .flat_map(|f| f.iter().map(|(k, v)| (&**k, &**v)))
    }

    /// The value bound under `name`, if any.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub(crate) fn fields_shared(&self) -> Option<BoundFields> {
        self.fields.clone()
    }

    /// The correlation, tenant and user ids (copies: inline ids copied, long ones shared).
    #[cfg(feature = "otlp")]
    pub(crate) fn ids(&self) -> [Option<Id>; 3] {
        [
            self.correlation_id.clone(),
            self.tenant_id.clone(),
            self.user_id.clone(),
        ]
    }

    /// The bound fields, borrowed.
    pub(crate) fn fields_slice(&self) -> &[(Arc<str>, Arc<str>)] {
        self.fields.as_deref().map_or(&[], |f| &f[..])
    }

    /// Binds `name = value` in this context (replacing an earlier value of that name).
    pub(crate) fn set_field(
        &mut self,
        name: &str,
        value: &dyn fmt::Display,
    ) -> Result<(), BindFieldError> {
        check_field_name(name)?;
        let value: Arc<str> = if crate::sensitive::is_sensitive(name) {
            // Never formatted: a sensitive value is not even rendered.
            Arc::from(crate::record::REDACTED)
        } else {
            let mut s = String::new();
            let mut w = Capped {
                out: &mut s,
                over: false,
            };
            let _ = fmt::write(&mut w, format_args!("{value}"));
            if w.over {
                return Err(BindFieldError::ValueTooLong);
            }
            Arc::from(s)
        };
        let list = Arc::make_mut(self.fields.get_or_insert_with(Default::default));
        if let Some(slot) = list.iter_mut().find(|(k, _)| &**k == name) {
            slot.1 = value;
            return Ok(());
        }
        if list.len() >= MAX_BOUND_FIELDS {
            return Err(BindFieldError::TooMany);
        }
        list.push((Arc::from(name), value));
        Ok(())
    }

    /// The connection id, when a connection is in scope.
    pub fn connection_id(&self) -> Option<&str> {
        self.connection_id.as_deref()
    }

    /// The request's source, when an HTTP request is in scope.
    pub fn source(&self) -> Option<&RequestSource> {
        self.source.as_deref()
    }

    /// The correlation id, if one is bound (a pending one is generated by [`current`]).
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_ref().map(Id::as_str)
    }

    /// The tenant id, if bound.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_ref().map(Id::as_str)
    }

    /// The user id, if bound.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_ref().map(Id::as_str)
    }

    /// The W3C `traceparent` this context continues, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// Runs `f` with this context installed, then restores the previous one.
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _guard = ScopeGuard::install(self);
        f()
    }

    /// Wraps `fut` so that it runs with this context installed on every poll.
    pub fn wrap<F: Future>(self, fut: F) -> WithContext<F> {
        WithContext {
            ctx: Some(self),
            fut,
        }
    }

    pub(crate) fn materialize_pending(&mut self) {
        self.materialize();
    }

    fn materialize(&mut self) {
        if self.correlation_pending {
            self.correlation_pending = false;
            self.correlation_id = Some(Id::generate());
        }
    }

    #[cfg_attr(not(feature = "sentry"), allow(dead_code))]
    pub(crate) fn request_key(&self) -> Option<u64> {
        self.request_key
    }

    #[cfg_attr(not(all(feature = "sentry", feature = "tower")), allow(dead_code))]
    pub(crate) fn with_request_key(mut self, key: u64) -> Context {
        self.request_key = Some(key);
        self
    }

    pub(crate) fn has_correlation(&self) -> bool {
        self.correlation_id.is_some() || self.correlation_pending
    }

    pub(crate) fn set_correlation_pending(&mut self) {
        self.correlation_pending = true;
    }

    pub(crate) fn set_correlation(&mut self, id: Id) {
        self.correlation_id = Some(id);
        self.correlation_pending = false;
    }

    pub(crate) fn set_tenant(&mut self, id: Id) {
        self.tenant_id = Some(id);
    }

    pub(crate) fn set_user(&mut self, id: Id) {
        self.user_id = Some(id);
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        *self == Context::default()
    }
}

/// The thread's slot: the current context, the ids that open [`Frame`]s replaced (a stack,
/// so a frame itself stays a few bytes), and the contexts frames saved whole before an in-place
/// change (see [`save_for_frame`]). All in one thread-local, so a call made while the thread's
/// thread-locals are destroyed (from another one's destructor) works as long as the context
/// itself is there, as it did before frames.
struct Slot {
    ctx: Context,
    undo: Vec<Option<Id>>,
    saved: Vec<(u32, Context)>,
}

impl std::ops::Deref for Slot {
    type Target = Context;
    #[inline]
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl std::ops::DerefMut for Slot {
    #[inline]
    fn deref_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }
}

thread_local! {
    static CURRENT: RefCell<Slot> = const {
        RefCell::new(Slot {
            ctx: Context::EMPTY,
            undo: Vec::new(),
            saved: Vec::new(),
        })
    };
    /// Fast-path state, kept in dtor-free cells (the cheapest thread-locals) so the common
    /// top-level call never touches `CURRENT`:
    /// `FRESH_OWED`: a top-level call owes a correlation id and `CURRENT` does not know yet;
    /// `FRESH_SYNCED`: it did, and `CURRENT` holds it (reset when the call ends);
    /// `FRESH_OWED | FRESH_TENANT`: the call also binds the tenant in `FRESH_TENANT_ID`.
    static FRESH: Cell<u8> = const { Cell::new(0) };
    /// The tenant of a top-level call that binds only a short string tenant
    /// ([`enter_fresh_tenant`]), as an inline id's text (no destructor, so the cell needs no
    /// lazy initialisation) until something reads the context ([`sync_fresh`]). A `RefCell`,
    /// not a `Cell`: the text is copied into the thread-local in place. Built on the stack and
    /// then moved in whole, the 48-byte value was read back right after the short copy wrote
    /// it, a store-forwarding stall that took about a tenth of the metrics-only call's time
    /// (`perf annotate` of the tenant-bound loop).
    static FRESH_TENANT_ID: RefCell<arrayvec::ArrayString<INLINE>> =
        const { RefCell::new(arrayvec::ArrayString::new_const()) };
    /// False only when `CURRENT` is known to be empty.
    static DIRTY: Cell<bool> = const { Cell::new(false) };
    /// Depth of the innermost open [`Frame`] (0: none).
    static FRAMES: Cell<u32> = const { Cell::new(0) };
    /// Depth of the innermost open [`Frame`] whose context must be saved whole before an
    /// in-place change ([`bind`], [`bind_field`]); 0 when there is none or when a
    /// [`ScopeGuard`] installed since then (it restores the frame's context by itself).
    static CLEAN: Cell<u32> = const { Cell::new(0) };
    /// Depth of the frame that saved the top entry of `Slot::saved` (0: none saved).
    static SAVED_TOP: Cell<u32> = const { Cell::new(0) };
}

const FRESH_NONE: u8 = 0;
const FRESH_OWED: u8 = 1;
const FRESH_SYNCED: u8 = 2;
/// With `FRESH_OWED`: the tenant in `FRESH_TENANT_ID` is bound too.
const FRESH_TENANT: u8 = 4;

/// Moves an owed correlation id of the fast path into `CURRENT` before anyone reads or
/// replaces it.
#[inline]
fn sync_fresh() {
    let fresh = FRESH.get();
    if fresh & FRESH_OWED != 0 {
        sync_fresh_now(fresh);
    }
}

fn sync_fresh_now(fresh: u8) {
    FRESH.set(FRESH_SYNCED);
    DIRTY.set(true);
    CURRENT.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.correlation_pending = true;
            if fresh & FRESH_TENANT != 0
                && let Ok(t) = FRESH_TENANT_ID.with(|t| t.try_borrow().map(|t| *t))
            {
                // Already an inline id's text (checked once, when the call started). The cell
                // is never borrowed here: only `mark_fresh` borrows it, running no other code.
                c.tenant_id = Some(Id(Repr::Inline(t)));
            }
        }
    });
}

fn is_empty_ctx(c: &Context) -> bool {
    !c.correlation_pending
        && c.correlation_id.is_none()
        && c.tenant_id.is_none()
        && c.user_id.is_none()
        && c.traceparent.is_none()
        && c.source.is_none()
        && c.connection_id.is_none()
        && c.fields.is_none()
}

/// A copy of the context of the running code (generating the pending correlation id if owed).
pub fn current() -> Context {
    sync_fresh();
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        c.materialize();
        c.clone()
    })
}

/// A copy of the current context without generating a pending correlation id.
pub(crate) fn current_raw() -> Context {
    sync_fresh();
    CURRENT.with(|c| c.try_borrow().map(|c| c.clone()).unwrap_or_default())
}

/// Whether a correlation id is bound or owed, without generating it.
pub(crate) fn has_correlation() -> bool {
    if FRESH.get() & FRESH_OWED != 0 {
        return true;
    }
    CURRENT.with(|c| c.try_borrow().map(|c| c.has_correlation()).unwrap_or(false))
}

/// Calls `f` with the current context without copying it (generating the pending correlation
/// id if owed). Do not install contexts from inside `f`.
pub fn with_current<R>(f: impl FnOnce(&Context) -> R) -> R {
    sync_fresh();
    CURRENT.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => {
            c.materialize();
            f(&c)
        }
        // Re-entered from inside `f` (a Display impl that logs): an empty view, never a panic.
        Err(_) => f(&Context::default()),
    })
}

/// The current correlation id, if any.
pub fn correlation_id() -> Option<Id> {
    with_current(|c| c.correlation_id.clone())
}

/// The current tenant id, if bound.
pub fn tenant_id() -> Option<Id> {
    with_current(|c| c.tenant_id.clone())
}

/// The current user id, if bound.
pub fn user_id() -> Option<Id> {
    with_current(|c| c.user_id.clone())
}

/// Binds `tenant` and/or `user` in the current scope until the end of the enclosing
/// `#[observed]` call, request or [`Context::scope`] (the hook the HTTP layer's users call after
/// authentication). Outside any scope it changes the thread's base context: prefer a scope.
pub fn bind(tenant: Option<&str>, user: Option<&str>) {
    sync_fresh();
    save_for_frame();
    DIRTY.set(true);
    CURRENT.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if let Some(t) = tenant {
                c.tenant_id = Some(Id::new(t));
            }
            if let Some(u) = user {
                c.user_id = Some(Id::new(u));
            }
        }
    })
}

/// Most named values bound in one scope ([`bind_field`], `bind(...)`): a further name is
/// left out, counted and logged.
pub const MAX_BOUND_FIELDS: usize = 16;
/// Longest value of a bound field, in bytes of its text: a longer one is left out.
pub const MAX_BOUND_VALUE_BYTES: usize = 256;
/// Longest name of a bound field, in bytes.
pub const MAX_BOUND_NAME_BYTES: usize = 64;

/// Names observa writes itself on every line: a bound field may not take them.
const RESERVED_FIELD_NAMES: &[&str] = &[
    "timestamp",
    "level",
    "event",
    "target",
    "message",
    "correlation_id",
    "tenant_id",
    "user_id",
    "trace_id",
    "span_id",
    "outcome",
    "error",
    "error_type",
    "duration_ms",
    "fields",
    "line_truncated",
];

/// Why a named value was not bound (it is left out; the scope carries on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindFieldError {
    /// The name is empty, longer than [`MAX_BOUND_NAME_BYTES`] or not `[A-Za-z_][A-Za-z0-9_.]*`.
    InvalidName,
    /// The name is one observa writes itself (`tenant_id`, `event`, ...: use [`bind`] for the
    /// ids).
    ReservedName,
    /// [`MAX_BOUND_FIELDS`] names are bound already.
    TooMany,
    /// The value's text is longer than [`MAX_BOUND_VALUE_BYTES`].
    ValueTooLong,
}

impl BindFieldError {
    /// The `reason` label of `observa_context_fields_rejected_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            BindFieldError::InvalidName => "invalid_name",
            BindFieldError::ReservedName => "reserved_name",
            BindFieldError::TooMany => "too_many",
            BindFieldError::ValueTooLong => "value_too_long",
        }
    }
}

impl fmt::Display for BindFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindFieldError::InvalidName => "invalid bound field name",
            BindFieldError::ReservedName => "bound field name is reserved by observa",
            BindFieldError::TooMany => "too many bound fields in this scope",
            BindFieldError::ValueTooLong => "bound field value is too long",
        })
    }
}

impl std::error::Error for BindFieldError {}

fn check_field_name(name: &str) -> Result<(), BindFieldError> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_BOUND_NAME_BYTES
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.');
    if !ok {
        return Err(BindFieldError::InvalidName);
    }
    if RESERVED_FIELD_NAMES.contains(&name) {
        return Err(BindFieldError::ReservedName);
    }
    Ok(())
}

/// A `fmt::Write` into a `String` that stops at [`MAX_BOUND_VALUE_BYTES`].
struct Capped<'a> {
    out: &'a mut String,
    over: bool,
}

impl fmt::Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.out.len() + s.len() > MAX_BOUND_VALUE_BYTES {
            self.over = true;
            return Err(fmt::Error);
        }
        self.out.push_str(s);
        Ok(())
    }
}

/// Counts and logs a rejected bound field (the name only when it is valid, never the value).
pub(crate) fn report(name: &str, r: Result<(), BindFieldError>) {
    let Err(e) = r else { return };
    static REJECTED: std::sync::LazyLock<Option<crate::metrics::CounterFamily>> =
        std::sync::LazyLock::new(|| {
            crate::metrics::CounterFamily::new(
                "observa_context_fields_rejected_total",
                "Bound context fields left out (invalid or reserved name, too many, value too long), by reason",
                &["reason"],
            )
            .ok()
        });
    if let Some(f) = REJECTED.as_ref() {
        f.get(&[e.as_str()]).inc();
    }
    let shown = if check_field_name(name).is_ok() || e == BindFieldError::ReservedName {
        name
    } else {
        "<invalid>"
    };
    tracing::warn!(
        target: "observa",
        event = "observa.bind_field_rejected",
        field = shown,
        reason = e.as_str(),
        "bound field left out: {e}"
    );
}

/// Binds the named value `name = value` for the rest of the current scope (the enclosing
/// `#[observed]` call, request, job or [`Context::scope`]), structlog's `bind_contextvars`:
/// every log line, `#[observed]` span, audit record (inside its `changes` text, under `"bound"`)
/// and task spawned with [`spawn`] inside it carries it, and nothing outside does. Binding a name
/// again replaces its value.
///
/// Bounds: at most [`MAX_BOUND_FIELDS`] names per scope, values of at most
/// [`MAX_BOUND_VALUE_BYTES`]; names `[A-Za-z_][A-Za-z0-9_.]*` other than the keys observa writes
/// itself. A value under a sensitive name (see [`crate::sensitive`]) is stored as
/// `[REDACTED]` without being formatted. Breaking a rule leaves the value out, counts it in
/// `observa_context_fields_rejected_total{reason}`, writes a WARN line and returns the error;
/// it never panics. Outside any scope it changes the thread's base context: prefer a scope.
pub fn bind_field(name: &str, value: impl fmt::Display) -> Result<(), BindFieldError> {
    sync_fresh();
    save_for_frame();
    DIRTY.set(true);
    let r = CURRENT.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.set_field(name, &value),
        Err(_) => Ok(()),
    });
    report(name, r);
    r
}

/// Fast path of a call that binds nothing, when the current context is empty (the top-level
/// call): marks a correlation id owed in place instead of installing a copy. Returns whether it
/// did; if so, [`exit_fresh`] must run when the call ends (it restores the empty context, exactly
/// what restoring the saved copy would do, without copying ~200 bytes in and out).
#[inline]
pub(crate) fn enter_fresh() -> bool {
    fresh_possible() && mark_fresh(None)
}

/// No fast-path call is in progress on this thread, and its context is known to be empty.
#[inline]
fn fresh_possible() -> bool {
    FRESH.get() == FRESH_NONE && !DIRTY.get()
}

/// Enters the fast path ([`fresh_possible`] checked), binding `tenant` when given: the one
/// writer of the fast path's state, which [`sync_fresh`] reads. False (nothing entered) when
/// the tenant is longer than an inline id.
#[inline]
fn mark_fresh(tenant: Option<FreshTenant<'_>>) -> bool {
    match tenant {
        Some(t) => {
            let kept = put_tenant(t);
            if kept {
                FRESH.set(FRESH_OWED | FRESH_TENANT);
            }
            kept
        }
        None => {
            FRESH.set(FRESH_OWED);
            true
        }
    }
}

/// The tenant a fast-path call binds: the argument of a sync call, or the inline id an async
/// call keeps between polls (copied whole, no variable-length copy).
#[derive(Clone, Copy)]
enum FreshTenant<'a> {
    Str(&'a str),
    Inline(&'a arrayvec::ArrayString<INLINE>),
}

/// Copies `t` into the fast path's tenant cell: false when it does not fit (or the cell is
/// borrowed, which nothing does while this runs). Out of line: inlined into the call's start,
/// the thread-local access was left as a call through the accessor's pointer anyway.
/// (One function per kind: each caller names its kind, so none branches on it.)
#[inline]
fn put_tenant(t: FreshTenant<'_>) -> bool {
    match t {
        FreshTenant::Str(s) => put_tenant_str(s),
        FreshTenant::Inline(a) => put_tenant_inline(a),
    }
}

#[inline(never)]
fn put_tenant_str(s: &str) -> bool {
    FRESH_TENANT_ID.with(|c| match c.try_borrow_mut() {
        Ok(mut id) => {
            id.clear();
            id.try_push_str(s).is_ok()
        }
        Err(_) => false,
    })
}

#[inline(never)]
fn put_tenant_inline(a: &arrayvec::ArrayString<INLINE>) -> bool {
    FRESH_TENANT_ID.with(|c| match c.try_borrow_mut() {
        Ok(mut id) => {
            *id = *a;
            true
        }
        Err(_) => false,
    })
}

/// [`enter_fresh`] for a call that binds only the tenant `tenant` (a string of at most
/// `INLINE` bytes): the tenant is kept as bytes in a dtor-free cell, and written into the
/// context (with the owed correlation id) only when something reads it. Ended by
/// [`exit_fresh`], like [`enter_fresh`].
#[inline]
pub(crate) fn enter_fresh_tenant(tenant: &str) -> bool {
    tenant.len() <= INLINE && fresh_possible() && mark_fresh(Some(FreshTenant::Str(tenant)))
}

/// Ends a call entered with [`enter_fresh`] or [`enter_fresh_tenant`]: back to the empty
/// context.
#[inline]
pub(crate) fn exit_fresh() {
    if FRESH.replace(FRESH_NONE) == FRESH_SYNCED {
        CURRENT.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.ctx.clear();
            }
        });
        DIRTY.set(false);
    }
}

/// The context of an async call that is nothing but its tenant (or nothing) and an owed
/// correlation id, started where the poller's context was empty: the common top-level handler.
/// Each poll enters it through the fast path of sync calls ([`enter_fresh_tenant`]), so no
/// [`Context`] is built, copied or exchanged per poll. A poll that reads or changes the context
/// hands it over whole ([`exit_fresh_capture`]), and the call keeps it as its own from then on,
/// as a call that built its context at start does: the same correlation id and bound values on
/// every later poll and on its completion line.
#[derive(Clone, Copy)]
pub(crate) struct FreshCall {
    tenant: Option<arrayvec::ArrayString<INLINE>>,
}

impl FreshCall {
    /// Makes `slot` a fresh call binding `tenant`, when the thread's context is empty and the
    /// tenant is short (kept inline): true then; false (`slot` left `None`) otherwise (the
    /// call builds its context). Written in place: built on the stack and moved into the
    /// call, the inline tenant was read back whole right after a narrower copy wrote it, a
    /// store-forwarding stall that was the largest single cost of an async call's start.
    #[inline]
    pub(crate) fn new_in(slot: &mut Option<FreshCall>, tenant: Option<&str>) -> bool {
        if !fresh_possible() {
            return false;
        }
        let call = slot.insert(FreshCall { tenant: None });
        if let Some(t) = tenant
            && call
                .tenant
                .insert(arrayvec::ArrayString::new())
                .try_push_str(t)
                .is_err()
        {
            *slot = None;
            return false;
        }
        true
    }

    /// Enters the call's context on this thread: true when entered (then [`exit_fresh`] or
    /// [`exit_fresh_capture`] is owed), false when the thread's context is not empty (the
    /// caller installs [`FreshCall::context`] instead).
    #[inline]
    pub(crate) fn enter(&self) -> bool {
        fresh_possible() && mark_fresh(self.tenant.as_ref().map(FreshTenant::Inline))
    }

    /// The call's context as a [`Context`]: its tenant and an owed correlation id.
    pub(crate) fn context(&self) -> Context {
        let mut c = Context::EMPTY;
        c.tenant_id = self.tenant.map(|t| Id(Repr::Inline(t)));
        c.correlation_pending = true;
        c
    }
}

/// Ends what [`FreshCall::enter`] entered, back to the empty context, and returns the call's
/// context when the code inside read or changed it (it was written into the thread's slot
/// then: a correlation id generated, a value bound), for the call to keep.
#[inline]
pub(crate) fn exit_fresh_capture() -> Option<Context> {
    if FRESH.replace(FRESH_NONE) != FRESH_SYNCED {
        return None;
    }
    let ctx = CURRENT.with(|c| {
        c.try_borrow_mut()
            .ok()
            .map(|mut c| std::mem::replace(&mut c.ctx, Context::EMPTY))
    });
    DIRTY.set(false);
    ctx
}

/// Installs `ctx` and returns the previous context; `Err(ctx)` when the thread's slot is
/// borrowed (a subscriber or `Display` impl running while observa reads the context): then
/// nothing is installed and nothing about the slot changes, its emptiness flag included
/// (marking it by `ctx` there once hid a sync call's context from the fast paths), and `ctx`
/// is handed back. (Both variants are a `Context`: the `Err` is no larger than the `Ok`.)
#[allow(clippy::result_large_err)]
pub(crate) fn swap(ctx: Context) -> Result<Context, Context> {
    sync_fresh();
    CURRENT.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => {
            DIRTY.set(!is_empty_ctx(&ctx));
            Ok(std::mem::replace(&mut c.ctx, ctx))
        }
        Err(_) => Err(ctx),
    })
}

/// Restores the previous context on drop (also while unwinding).
pub(crate) struct ScopeGuard {
    prev: Option<Context>,
    /// The context that could not be installed (the slot was borrowed), kept for
    /// [`ScopeGuard::restore`] to hand back as it was.
    kept: Option<Context>,
    /// `CLEAN` when installed: changes inside this scope are undone by the swap back, so no
    /// frame needs to save its context for them until the scope ends.
    prev_clean: u32,
}

impl ScopeGuard {
    pub(crate) fn install(ctx: Context) -> ScopeGuard {
        let prev_clean = CLEAN.get();
        // Nothing to restore when nothing was installed (the slot borrowed), `CLEAN` included.
        match swap(ctx) {
            Ok(prev) => {
                CLEAN.set(0);
                ScopeGuard {
                    prev: Some(prev),
                    kept: None,
                    prev_clean,
                }
            }
            Err(ctx) => ScopeGuard {
                prev: None,
                kept: Some(ctx),
                prev_clean,
            },
        }
    }

    /// Restores the previous context and returns the one that was installed (with whatever
    /// was bound or generated inside the scope), or the one that could not be, as it was.
    pub(crate) fn restore(mut self) -> Context {
        match self.prev.take() {
            Some(prev) => {
                CLEAN.set(self.prev_clean);
                // The slot borrowed now (a restore from inside a subscriber): the scope's
                // context stays installed, as before, and the caller gets an empty one.
                swap(prev).unwrap_or_default()
            }
            None => self.kept.take().unwrap_or_default(),
        }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            CLEAN.set(self.prev_clean);
            let _ = swap(prev);
        }
    }
}

/// An async call's context exchanged with the thread's for one poll ([`swap_in`]): the call's
/// storage holds the poller's context meanwhile, and [`swap_out`] exchanges them back (no copy
/// of either in or out of an `Option`, no guard holding a third).
#[must_use]
pub(crate) struct Swapped {
    prev_clean: u32,
}

/// Installs `ctx` by exchanging it with the current context; `None` (nothing done) when the
/// slot is borrowed.
#[inline]
pub(crate) fn swap_in(ctx: &mut Context) -> Option<Swapped> {
    sync_fresh();
    CURRENT.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        std::mem::swap(&mut c.ctx, ctx);
        DIRTY.set(!is_empty_ctx(&c.ctx));
        // Changes inside are undone by the exchange back: no frame needs to save for them.
        Some(Swapped {
            prev_clean: CLEAN.replace(0),
        })
    })
}

/// Undoes [`swap_in`]: `ctx` gets the call's context back (with whatever was bound or generated
/// inside the poll), the thread the poller's.
#[inline]
pub(crate) fn swap_out(ctx: &mut Context, s: Swapped) {
    CURRENT.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            std::mem::swap(&mut c.ctx, ctx);
            DIRTY.set(!is_empty_ctx(&c.ctx));
        }
    });
    CLEAN.set(s.prev_clean);
}

/// Before an in-place change of the current context ([`bind`], [`bind_field`]): the innermost
/// [`Frame`] that has not saved its context yet saves it whole (copy-on-write), so that the
/// frame's end restores it exactly. Frames that change nothing but what they bound never copy.
#[inline]
fn save_for_frame() {
    let clean = CLEAN.get();
    if clean == 0 {
        return;
    }
    save_for_frame_slow(clean);
}

#[cold]
#[inline(never)]
fn save_for_frame_slow(clean: u32) {
    CURRENT.with(|c| {
        // Marked saved only when it was: with the slot borrowed (a subscriber or `Display`
        // impl running while observa reads it) nothing is saved, and the next change saves.
        if let Ok(mut c) = c.try_borrow_mut() {
            CLEAN.set(0);
            let saved = c.ctx.clone();
            c.saved.push((clean, saved));
            SAVED_TOP.set(clean);
        }
    });
}

/// What a call binds: a string (copied, never formatted) or a `Display` value (formatted).
#[doc(hidden)]
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)]
pub enum BindValue<'a> {
    /// `&str`, `String`, [`Id`] and other strings: copied as they are.
    Str(&'a str),
    /// Anything else that is `Display`: formatted into the id.
    Display(&'a dyn fmt::Display),
}

impl BindValue<'_> {
    /// The id (runs the `Display` impl of a [`BindValue::Display`]: user code).
    #[inline]
    pub(crate) fn to_id(self) -> Id {
        match self {
            BindValue::Str(s) => Id::new(s),
            BindValue::Display(d) => Id::from_display(d),
        }
    }
}

const BOUND_TENANT: u8 = 1;
const BOUND_USER: u8 = 2;
const BOUND_CORRELATION: u8 = 4;
/// The frame made a correlation id owed (there was none): it removes it, generated or not.
const OWNS_PENDING: u8 = 8;

/// A call's binding written in place into the current context (no copy of the context): the
/// ids it binds replace the current ones, the previous ones are kept here and put back when the
/// frame drops (also while unwinding). A change of anything else in place inside the frame
/// ([`bind`], [`bind_field`]) first saves the whole context (copy-on-write, see
/// [`save_for_frame`]), which the frame's end restores; a correlation id generated inside for
/// one the frame did not owe stays (the caller's id, as when nothing is installed). Frames
/// nest strictly (a sync call's lifetime), as [`ScopeGuard`]s do.
#[must_use]
pub(crate) struct Frame {
    /// 0: inert (the slot was borrowed: nothing was changed).
    depth: u32,
    prev_clean: u32,
    prev_dirty: bool,
    prev_pending: bool,
    flags: u8,
}

impl Frame {
    const INERT: Frame = Frame {
        depth: 0,
        prev_clean: 0,
        prev_dirty: false,
        prev_pending: false,
        flags: 0,
    };

    /// Binds `tenant`, `user` and `correlation` (the given ones) in place; with no correlation
    /// id bound or owed, one is owed for the frame.
    #[inline]
    pub(crate) fn enter(tenant: Option<Id>, user: Option<Id>, correlation: Option<Id>) -> Frame {
        sync_fresh();
        CURRENT.with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return Frame::INERT;
            };
            let Slot { ctx: c, undo, .. } = &mut *c;
            let depth = FRAMES.get() + 1;
            FRAMES.set(depth);
            let mut f = Frame {
                depth,
                prev_clean: CLEAN.replace(depth),
                prev_dirty: DIRTY.replace(true),
                prev_pending: false,
                flags: 0,
            };
            if let Some(t) = tenant {
                undo.push(c.tenant_id.replace(t));
                f.flags |= BOUND_TENANT;
            }
            if let Some(u) = user {
                undo.push(c.user_id.replace(u));
                f.flags |= BOUND_USER;
            }
            if let Some(k) = correlation {
                undo.push(c.correlation_id.replace(k));
                f.prev_pending = std::mem::replace(&mut c.correlation_pending, false);
                f.flags |= BOUND_CORRELATION;
            } else if !c.has_correlation() {
                c.correlation_pending = true;
                f.flags |= OWNS_PENDING;
            }
            f
        })
    }

    /// Whether a frame that binds nothing would change anything (no correlation id in scope).
    #[inline]
    pub(crate) fn needed_unbound() -> bool {
        !has_correlation()
    }
}

impl Drop for Frame {
    #[inline]
    fn drop(&mut self) {
        if self.depth == 0 {
            return;
        }
        let depth = self.depth;
        let flags = self.flags;
        CURRENT.with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return;
            };
            let Slot {
                ctx: c,
                undo,
                saved,
            } = &mut *c;
            if SAVED_TOP.get() == depth {
                restore_saved(
                    c,
                    saved,
                    depth,
                    flags & (BOUND_CORRELATION | OWNS_PENDING) == 0,
                );
            }
            // Popped in the reverse order of `enter`.
            if flags & BOUND_CORRELATION != 0 {
                c.correlation_id = undo.pop().flatten();
                c.correlation_pending = self.prev_pending;
            } else if flags & OWNS_PENDING != 0 {
                c.correlation_id = None;
                c.correlation_pending = false;
            }
            if flags & BOUND_USER != 0 {
                c.user_id = undo.pop().flatten();
            }
            if flags & BOUND_TENANT != 0 {
                c.tenant_id = undo.pop().flatten();
            }
        });
        DIRTY.set(self.prev_dirty);
        CLEAN.set(self.prev_clean);
        FRAMES.set(depth - 1);
    }
}

/// Puts back the context a frame saved (see [`save_for_frame`]); `keep_correlation`: the
/// frame neither bound nor owed the correlation id, so one generated inside is the caller's.
#[cold]
#[inline(never)]
fn restore_saved(c: &mut Context, s: &mut Vec<(u32, Context)>, depth: u32, keep_correlation: bool) {
    let saved = match s.last() {
        Some((d, _)) if *d == depth => s.pop().map(|(_, c)| c),
        _ => None,
    };
    SAVED_TOP.set(s.last().map_or(0, |(d, _)| *d));
    let Some(saved) = saved else { return };
    let id = c.correlation_id.take();
    let pending = c.correlation_pending;
    *c = saved;
    if keep_correlation {
        c.correlation_id = id;
        c.correlation_pending = pending;
    }
}

pin_project_lite::pin_project! {
    /// A future that runs with a given context installed on every poll.
    #[derive(Debug)]
    pub struct WithContext<F> {
        ctx: Option<Context>,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let guard = ScopeGuard::install(this.ctx.take().unwrap_or_default());
        let out = this.fut.poll(cx);
        *this.ctx = Some(guard.restore());
        out
    }
}

/// Extension methods for futures.
pub trait FutureExt: Future + Sized {
    /// Runs this future in a copy of the current context (for tasks spawned by hand).
    fn in_current_context(self) -> WithContext<Self> {
        current().wrap(self)
    }

    /// Runs this future in `ctx`.
    fn with_context(self, ctx: Context) -> WithContext<Self> {
        ctx.wrap(self)
    }
}

impl<F: Future> FutureExt for F {}

/// `tokio::spawn` that carries the current context into the new task (and, with OTLP export
/// on, the current span: an `#[observed]` call in the task is a child of the call that spawned
/// it).
#[track_caller]
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(InSpan {
        span: CurrentSpan::take(),
        fut: fut.in_current_context(),
    })
}

/// `tokio::task::spawn_blocking` that carries the current context (and span, as [`spawn`])
/// into the closure.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = current();
    let span = CurrentSpan::take();
    tokio::task::spawn_blocking(move || span.scope(|| ctx.scope(f)))
}

/// `std::thread::spawn` that carries the current context (and span, as [`spawn`]) into the new
/// thread.
pub fn spawn_thread<F, R>(f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = current();
    let span = CurrentSpan::take();
    std::thread::spawn(move || span.scope(|| ctx.scope(f)))
}

/// The current OpenTelemetry context when OTLP export is on (the current span, own or not),
/// attached again on another thread.
struct CurrentSpan(#[cfg(feature = "otlp")] Option<opentelemetry::Context>);

impl CurrentSpan {
    fn take() -> CurrentSpan {
        #[cfg(feature = "otlp")]
        {
            CurrentSpan(crate::trace::active().then(opentelemetry::Context::current))
        }
        #[cfg(not(feature = "otlp"))]
        CurrentSpan()
    }

    fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "otlp")]
        let _guard = self.0.clone().map(crate::trace::carry);
        f()
    }
}

pin_project_lite::pin_project! {
    /// A spawned task with the spawner's span ([`CurrentSpan`]) attached around every poll.
    struct InSpan<F> {
        span: CurrentSpan,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.span.scope(|| this.fut.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clear` leaves exactly the empty context, whatever was set (every field).
    #[test]
    fn clear_is_the_empty_context() {
        let mut c = Context::new()
            .with_correlation_id("c-1")
            .with_tenant_id("a-tenant-id-longer-than-forty-six-characters-kept-shared")
            .with_user_id("u-1")
            .with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .with_source(RequestSource {
                client_ip: Some("10.0.0.1".into()),
                user_agent: None,
                session_fingerprint: None,
            })
            .with_connection_id("conn-1")
            .with_request_key(7);
        assert!(c.set_field("order", &"o-1").is_ok());
        c.set_correlation_pending();
        assert!(!is_empty_ctx(&c) && c.request_key.is_some());
        c.clear();
        assert!(is_empty_ctx(&c));
        assert_eq!(c.request_key, None);
        assert_eq!(format!("{c:?}"), format!("{:?}", Context::EMPTY));
    }

    #[test]
    fn scope_restores_and_nests() {
        assert!(current().is_empty());
        Context::new().with_tenant_id("t1").scope(|| {
            assert_eq!(current().tenant_id(), Some("t1"));
            Context::new().with_tenant_id("t2").scope(|| {
                assert_eq!(current().tenant_id(), Some("t2"));
            });
            assert_eq!(current().tenant_id(), Some("t1"));
        });
        assert!(current().is_empty());
    }

    #[test]
    fn scope_restores_after_panic() {
        let r = std::panic::catch_unwind(|| {
            Context::new().with_tenant_id("p").scope(|| panic!("boom"));
        });
        assert!(r.is_err());
        assert!(current().is_empty());
    }

    #[test]
    fn pending_correlation_is_generated_once() {
        let mut c = Context::new();
        c.set_correlation_pending();
        c.scope(|| {
            let a = current().correlation_id().map(str::to_owned);
            let b = current().correlation_id().map(str::to_owned);
            assert_eq!(a.as_deref().map(str::len), Some(32));
            assert_eq!(a, b);
        });
    }

    #[test]
    fn fresh_fast_path_owes_one_id_and_leaves_nothing_behind() {
        assert!(enter_fresh());
        assert!(!enter_fresh(), "nested calls take the general path");
        assert!(has_correlation());
        let a = current().correlation_id().map(str::to_owned);
        let b = current().correlation_id().map(str::to_owned);
        assert_eq!(a.as_deref().map(str::len), Some(32));
        assert_eq!(a, b);
        bind(Some("t"), None);
        assert_eq!(current().tenant_id(), Some("t"));
        exit_fresh();
        assert!(current_raw().is_empty());
        // Untouched: nothing was ever written to the slot.
        assert!(enter_fresh());
        exit_fresh();
        assert!(current_raw().is_empty());
        // A context installed by someone else is not "fresh".
        let _g = ScopeGuard::install(Context::new().with_tenant_id("x"));
        assert!(!enter_fresh());
    }

    #[test]
    fn fresh_tenant_fast_path_binds_in_place_and_leaves_nothing_behind() {
        assert!(
            !enter_fresh_tenant(&"x".repeat(INLINE + 1)),
            "long tenants take a frame"
        );
        assert!(enter_fresh_tenant("acme"));
        assert!(!enter_fresh(), "nested calls take the general path");
        assert!(!enter_fresh_tenant("other"));
        assert!(has_correlation());
        let c = current();
        assert_eq!(c.tenant_id(), Some("acme"));
        assert_eq!(c.correlation_id().map(str::len), Some(32));
        assert_eq!(current().correlation_id(), c.correlation_id());
        exit_fresh();
        assert!(current_raw().is_empty());
        // Never read: nothing was written to the slot, and nothing is left either.
        assert!(enter_fresh_tenant("acme"));
        exit_fresh();
        assert!(current_raw().is_empty());
        assert!(enter_fresh());
        assert_eq!(
            current().tenant_id(),
            None,
            "the tenant of an earlier call is gone"
        );
        exit_fresh();
        assert!(current_raw().is_empty());
    }

    #[test]
    fn long_ids_are_shared() {
        let long = "x".repeat(100);
        assert_eq!(Id::new(&long).as_str(), long);
        assert_eq!(Id::new("short").as_str(), "short");
    }
}
