//! Call sites and calls: everything `#[observed]` does at run time.
//!
//! The macro expands to one `static` [`Site`] per function (through the runtime's
//! `__site!` macro: the `tracing` metadata of the span and of the completion events, the event
//! names, the recorded field names and the options) and to three calls: [`Call::start`] before
//! the body, the body itself, and [`Call::finish`] with the outcome. All logic lives here.
//!
//! Cost model: metric handles are resolved once per site and cached; the span is created only
//! when a subscriber wants it; recorded fields are rendered once, at start, only when a
//! completion event can be written; durations use `quanta` (TSC where available).
//!
//! # The path of one call
//!
//! 1. [`site`]: `__site!` declares the function's [`Site`] from a [`SiteInfo`] and its [`Opts`];
//!    the site registers itself for the inventory ([`crate::slo::sites`]).
//! 2. [`field`]: the generated code passes the recorded values (masked at compile time when
//!    their name is sensitive: [`field()`], [`MaskedField`]) and what the attribute binds ([`CallBinding`],
//!    [`bound_value`]); the call's context is built from them.
//! 3. The call starts: [`sync_call`] ([`Call`]: the context installed and the span entered
//!    until the call is finished or dropped) or [`future`] ([`AsyncCall`]: the context
//!    installed and the span entered around every poll of the body, [`Instrumented`]; for a function
//!    returning a future, [`AsyncCall::run`] then the returned future bound the same way).
//! 4. [`core`]: both keep their books in a `Core`: built idle before any user code, begun
//!    (started count, clock, span, rendered fields), finished once (counter, histogram, span
//!    status, the completion event dispatched directly); its guards undo every change to the
//!    thread, also while unwinding.
//! 5. [`probe`]: the outcome of the returned value, classified by autoref specialisation (no
//!    trait bound on the return type); [`metrics`]: the site's metric handles, resolved on its
//!    first call.

mod core;
mod field;
mod future;
mod metrics;
mod probe;
mod site;
mod sync_call;

pub use field::{
    BindProbe, BindViaDisplay, BindViaStr, CallBinding, MaskedField, bound_value, field, ret_ok,
    ret_plain,
};
pub(crate) use future::NotAFuture;
pub use future::{
    AsyncCall, Instrumented, SyncCheck, SyncVia, box_future, not_a_boxed_future, pinned,
};
pub use probe::{
    Probe, ViaAny, ViaClassifyDisplay, ViaClassifyError, ViaDebug, ViaDisplay, ViaError, ViaResult,
    debug_error,
};
pub(crate) use site::register_all;
pub use site::{Opts, Site, SiteInfo};
pub use sync_call::Call;
