//! The synchronous call path: [`Call::start`] before the body, [`Call::finish`] after it.

use super::core::{
    CallCtx, Core, Entered, elapsed, event_enabled, now, span_enabled, while_unwinding,
};
use super::field::{CallBinding, call_context, call_frame};
use super::metrics::{ShardRef, SiteMetrics};
use super::site::Site;
use crate::context::{self, BindValue, ScopeGuard};
use crate::outcome::{Finish, Outcome};
use crate::record::Record;
use std::fmt;

/// A synchronous call in progress. Installs its context and enters its span on creation;
/// records the outcome in [`Call::finish`], or `panic` when dropped while unwinding.
///
/// Isolation: the call is built idle before any user code runs, and each change to the thread
/// (the owed correlation id of the fast path, an installed context, an entered span, the
/// started count) is recorded in it as it is made, so dropping it, normally or while unwinding
/// out of `start`, the body or `finish`, undoes exactly what was done.
///
/// Two shapes: [`Lean`], a call that has nothing but metrics to keep between its start and its
/// end (no span for any layer, no own span, no rendered fields, no resource meter, no context
/// of its own beyond the fast path's), and [`Full`], every other call. Most calls of a service
/// are lean (metrics only, or a completion line with the tenant): they skip building, moving
/// and dropping the [`Core`] (span, fields, meter, own span: about a third of the metrics-only
/// path's instructions before this split, callgrind). A lean call that must write its line
/// builds the core then, at its end.
#[doc(hidden)]
pub struct Call(Kind);

enum Kind {
    Lean(Lean),
    Full(Full),
}

/// A call with only metrics between start and end (see [`Call`]).
struct Lean {
    site: &'static Site,
    metrics: Option<&'static SiteMetrics>,
    shard: Option<ShardRef>,
    /// Raw clock reading at the start of the body.
    start: u64,
    /// Entered on the fast path ([`context::enter_fresh`]): [`context::exit_fresh`] is owed.
    fresh: bool,
    /// No outcome is owed (not started, or recorded).
    done: bool,
}

/// Every other call: its context change and its books.
struct Full {
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
pub(super) struct FreshGuard;

impl Drop for FreshGuard {
    #[inline]
    fn drop(&mut self) {
        context::exit_fresh();
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field(
                "site",
                &match &self.0 {
                    Kind::Lean(l) => l.site,
                    Kind::Full(f) => f.core.site,
                }
                .info
                .event,
            )
            .finish_non_exhaustive()
    }
}

/// The fast path of a top-level call ([`context::enter_fresh`],
/// [`context::enter_fresh_tenant`]): entered when it returns true. No user code runs.
#[inline]
fn fresh_path(site: &Site, bind: &CallBinding<'_>) -> bool {
    if site.info.opts.started
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

/// Would a call of `site` with `values` keep anything but metrics between start and end?
/// (Subscribers' `enabled` may run: no thread state may be pending when this is called.)
#[inline]
fn wants_core(site: &'static Site, values: &[&dyn Record]) -> bool {
    if !values.is_empty() || site.info.opts.started || span_enabled(site) {
        return true;
    }
    #[cfg(feature = "otlp")]
    if crate::trace::active() && event_enabled(site, site.info.opts.level).is_some() {
        return true;
    }
    false
}

impl Call {
    /// Starts a synchronous call.
    #[inline]
    pub fn start(site: &'static Site, bind: CallBinding<'_>, values: &[&dyn Record]) -> Call {
        // The common top-level call: nothing bound, or only a string tenant, and an empty
        // context; or a call that binds nothing inside a context with a correlation id. `started` writes a line with
        // the call's context, so it takes the general path (the context installed).
        let fresh = fresh_path(site, &bind);
        // (A call that binds nothing where no correlation id is in scope enters a frame that
        // owes one: `call_frame`.)
        if fresh || (bind.is_empty() && !context::Frame::needed_unbound()) {
            // Built at once (nothing between the thread's change and the value that undoes it
            // can panic); it owes no outcome yet.
            let lean = Lean {
                site,
                metrics: None,
                shard: None,
                start: 0,
                fresh,
                done: true,
            };
            return Call::lean_or_full(lean, values);
        }
        Call::start_bound(site, bind, values)
    }

    /// Starts `lean` (not started yet: it owes only its context change) as a lean call, or
    /// as a full one when the call keeps more than metrics.
    #[inline]
    fn lean_or_full(mut lean: Lean, values: &[&dyn Record]) -> Call {
        let site = lean.site;
        // Counted as started before any subscriber code runs (`enabled` below): a panic there
        // is the call's outcome, as it is in `Core::begin`.
        if let Some(m) = site.metrics() {
            lean.shard = m.start();
            lean.metrics = Some(m);
        }
        lean.done = false;
        let meter = crate::resource::Meter::for_call();
        if meter.is_on() || wants_core(site, values) {
            // The core takes the started count over (`Core::begin` does not count it again).
            return Call(Kind::Full(Full::start(lean.upgrade(), values, meter)));
        }
        lean.start = now();
        Call(Kind::Lean(lean))
    }

    /// [`Call::start`] of a call that binds something or runs inside a context: a frame or an
    /// installed context (out of line: the fast path stays small where it is inlined).
    #[inline(never)]
    fn start_bound(site: &'static Site, bind: CallBinding<'_>, values: &[&dyn Record]) -> Call {
        let meter = crate::resource::Meter::for_call;
        if bind.ids_only() {
            // Formats `Display` ids (user code) before changing anything, then writes the ids
            // in place; the frame is in the call before any further user code runs.
            let scope = match call_frame(&bind) {
                Some(f) => Scope::Frame(f),
                None => Scope::Same,
            };
            let full = Full {
                scope,
                core: Core::idle(site),
            };
            Call(Kind::Full(Full::start(full, values, meter())))
        } else {
            let mut call = Full {
                scope: Scope::Same,
                core: Core::idle(site),
            };
            // Formats the bound values (user code): nothing to undo yet if it panics.
            let mut ctx = call_context(&bind);
            call.core.begin(ctx.as_mut().into(), values, meter());
            if let Some(c) = ctx {
                call.scope = Scope::Installed(Box::new(ScopeGuard::install(c)));
            }
            call.enter();
            Call(Kind::Full(call))
        }
    }

    /// Records the outcome of a returned value.
    #[inline]
    pub fn finish(mut self, f: Finish<'_>) {
        match &mut self.0 {
            Kind::Lean(l) => l.finish(f),
            Kind::Full(c) => c.core.finish(f),
        }
    }

    /// Records the return value in the completion event (`ret`).
    pub fn ret(&mut self, v: Option<&dyn Record>) {
        if v.is_none() {
            return;
        }
        // The value is rendered into the call's fields: a lean call becomes a full one.
        if let Kind::Lean(l) = &mut self.0 {
            self.0 = Kind::Full(l.upgrade());
        }
        if let Kind::Full(c) = &mut self.0 {
            c.core.ret(v);
        }
    }
}

impl Full {
    /// Begins `self` (idle, its scope set) with no context of its own, and enters it.
    #[inline]
    fn start(mut self, values: &[&dyn Record], meter: crate::resource::Meter) -> Full {
        self.core.begin(CallCtx::Current, values, meter);
        self.enter();
        self
    }

    /// After `begin`: resumes the meter, enters the span, writes `started`.
    #[inline]
    fn enter(&mut self) {
        self.core.meter.resume(false);
        self.core.enter();
        self.core.started();
    }
}

impl Lean {
    /// The core of this call (its span, fields and meter empty), owing its outcome if this
    /// one does.
    #[inline]
    fn core(&self) -> Core {
        let mut core = Core::idle(self.site);
        core.metrics = self.metrics;
        core.shard = self.shard;
        core.start = self.start;
        core.done = self.done;
        core.begun = !self.done;
        core
    }

    /// Hands the context change and the owed outcome over to a full call (this one then owes
    /// nothing).
    fn upgrade(&mut self) -> Full {
        let scope = if std::mem::take(&mut self.fresh) {
            Scope::Fresh(FreshGuard)
        } else {
            Scope::Same
        };
        let core = self.core();
        self.done = true;
        Full { scope, core }
    }

    /// Metrics, then the completion line when one may be written (built on a core then).
    #[inline]
    fn finish(&mut self, f: Finish<'_>) {
        if self.done {
            return;
        }
        self.done = true;
        let site = self.site;
        let f = f.with_class(site.info.opts.class);
        let (ticks, end) = elapsed(self.start);
        if let Some(m) = self.metrics {
            m.finish(self.shard, f.outcome, ticks);
        }
        // (A sampled site draws before asking the subscriber, in `Core::complete`.)
        if f.outcome != Outcome::Ok
            || site.info.opts.slow_ms > 0
            || site.info.opts.sample < 1.0
            || event_enabled(site, site.info.opts.level).is_some()
        {
            self.line(f, ticks, end);
        }
    }

    /// The completion line of a lean call (out of line: it costs thousands of instructions
    /// anyway).
    #[inline(never)]
    fn line(&self, f: Finish<'_>, ticks: u64, end: u64) {
        self.core().complete(f, ticks, end);
    }
}

impl Drop for Lean {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            if std::thread::panicking() {
                // The same books as a full call's (`Core::finish_panic`), context still in place.
                let mut core = self.core();
                self.done = true;
                while_unwinding(|| core.finish_panic());
            } else {
                // Not reachable from generated code; keep the books balanced anyway.
                self.finish(Finish::OK);
            }
        }
        if self.fresh {
            context::exit_fresh();
        }
    }
}

impl Drop for Full {
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
