//! The synchronous call path: [`Call::start`] before the body, [`Call::finish`] after it.

use super::core::{Core, Entered, while_unwinding};
use super::field::{CallBinding, call_context, call_frame};
use super::site::Site;
use crate::context::{self, BindValue, ScopeGuard};
use crate::outcome::Finish;
use crate::record::Record;
use std::fmt;

/// A synchronous call in progress. Installs its context and enters its span on creation;
/// records the outcome in [`Call::finish`], or `panic` when dropped while unwinding.
///
/// Isolation: the call is built idle before any user code runs, and each change to the thread
/// (the owed correlation id of the fast path, an installed context, an entered span, the
/// started count) is recorded in it as it is made, so dropping it, normally or while unwinding
/// out of `start`, the body or `finish`, undoes exactly what was done.
#[doc(hidden)]
pub struct Call {
    // Declared first, so dropped before the span closes: the context is restored first.
    scope: Scope,
    core: Core,
}

/// How a sync call changed the context: not at all, in place (see [`context::enter_fresh`] and
/// [`context::Frame`]), or by installing its own (named values bound: boxed, that path
/// allocates anyway). Each variant undoes its change when dropped.
enum Scope {
    Same,
    Fresh(FreshGuard),
    Frame(#[allow(dead_code)] context::Frame),
    Installed(#[allow(dead_code)] Box<ScopeGuard>),
}

/// Ends a call entered on the fast path ([`context::exit_fresh`]) on drop, also while unwinding.
struct FreshGuard;

impl Drop for FreshGuard {
    #[inline]
    fn drop(&mut self) {
        context::exit_fresh();
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("site", &self.core.site.event)
            .finish_non_exhaustive()
    }
}

/// The fast path of a top-level call ([`context::enter_fresh`],
/// [`context::enter_fresh_tenant`]): entered when it returns true. No user code runs.
#[inline]
fn fresh_path(site: &Site, bind: &CallBinding<'_>) -> bool {
    if site.opts.started
        || bind.user.is_some()
        || bind.correlation.is_some()
        || !bind.fields.is_empty()
    {
        return false;
    }
    match bind.tenant {
        None => context::enter_fresh(),
        Some(BindValue::Str(t)) => context::enter_fresh_tenant(t),
        // Formatted (user code) only on the frame path, once.
        Some(BindValue::Display(_)) => false,
    }
}

impl Call {
    /// Starts a synchronous call.
    #[inline]
    pub fn start(site: &'static Site, bind: CallBinding<'_>, values: &[&dyn Record]) -> Call {
        // The common top-level call: nothing bound, or only a string tenant, and an empty
        // context. `started` writes a line with the call's context, so it takes the general
        // path (the context installed). The call is built at once with its scope (nothing
        // between the thread's change and the guard that undoes it can panic).
        let mut call = if fresh_path(site, &bind) {
            let mut call = Call {
                scope: Scope::Fresh(FreshGuard),
                core: Core::idle(site),
            };
            call.core.begin(None, values);
            call
        } else {
            Call::start_bound(site, bind, values)
        };
        call.core.meter.resume(false);
        call.core.enter();
        call.core.started();
        call
    }

    /// [`Call::start`] of a call that binds something or runs inside a context: a frame or an
    /// installed context (out of line: the fast path stays small where it is inlined).
    #[inline(never)]
    fn start_bound(site: &'static Site, bind: CallBinding<'_>, values: &[&dyn Record]) -> Call {
        if bind.ids_only() {
            // Formats `Display` ids (user code) before changing anything, then writes the ids
            // in place; the frame is in the call before any further user code runs.
            let scope = match call_frame(&bind) {
                Some(f) => Scope::Frame(f),
                None => Scope::Same,
            };
            let mut call = Call {
                scope,
                core: Core::idle(site),
            };
            call.core.begin(None, values);
            call
        } else {
            let mut call = Call {
                scope: Scope::Same,
                core: Core::idle(site),
            };
            // Formats the bound values (user code): nothing to undo yet if it panics.
            let mut ctx = call_context(&bind);
            call.core.begin(ctx.as_mut(), values);
            if let Some(c) = ctx {
                call.scope = Scope::Installed(Box::new(ScopeGuard::install(c)));
            }
            call
        }
    }

    /// Records the outcome of a returned value.
    #[inline]
    pub fn finish(mut self, f: Finish<'_>) {
        self.core.finish(f);
    }

    /// Records the return value in the completion event (`ret`).
    pub fn ret(&mut self, v: Option<&dyn Record>) {
        self.core.ret(v);
    }
}

impl Drop for Call {
    #[inline]
    fn drop(&mut self) {
        let core = &mut self.core;
        if core.done && !core.entered {
            // Finished (or never begun) and no span entered: nothing is owed.
            return;
        }
        if std::thread::panicking() {
            // Each step on its own: a subscriber that panics on the event still gets the exit.
            while_unwinding(|| {
                if !core.done {
                    core.finish_panic();
                }
            });
            while_unwinding(|| core.exit());
        } else {
            let mut core = Entered(core);
            if !core.done {
                // Not reachable from generated code; keep the books balanced anyway.
                core.finish(Finish::OK);
            }
        }
        // Then `scope` restores the context (its own drop, also if the above panicked).
    }
}
