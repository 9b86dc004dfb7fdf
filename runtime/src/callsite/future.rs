//! The async call paths: an `async fn` body or a returned future run inside the call
//! ([`AsyncCall`], [`Bound`], one [`PollGuard`] per poll), and the compile-time probes for
//! functions that return a boxed future behind a type alias.

use super::core::{CallCtx, Core, PANICKED, span_enabled, while_unwinding};
use super::field::{CallBinding, call_context};
use super::site::Site;
use super::sync_call::FreshGuard;
use crate::context::{self, BindValue, Context, ScopeGuard};
use crate::outcome::{ErrorView, Finish, Outcome};
use crate::record::Record;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

/// An async call in progress. Its context is installed and its span entered around every poll
/// of the body ([`AsyncCall::bind`]); dropped before [`AsyncCall::finish`] it records
/// `cancelled`, and a panic inside a poll (or while the call starts) records `panic`. Nothing
/// it installs outlives a poll, also when the poll unwinds.
#[doc(hidden)]
pub struct AsyncCall {
    core: Core,
    /// The call's own context, exchanged with the poller's around each poll; `None` for a call
    /// that runs in the poller's (nothing bound, a correlation id in scope) or is `fresh`.
    ///
    /// Boxed: the call lives in the instrumented future, which is moved whole when it is
    /// created and awaited; a context inline (about 230 bytes) made every async call copy it
    /// several times, the fresh ones that never use it too.
    ctx: Option<Box<Context>>,
    /// The call's context while it is only its tenant and an owed correlation id, entered per
    /// poll without a [`Context`] ([`context::FreshCall`]); moved into `ctx` by the first poll
    /// that reads or changes it, or by a span that needs it at the start. Never set with `ctx`.
    fresh: Option<context::FreshCall>,
}

impl fmt::Debug for AsyncCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCall")
            .field("site", &self.core.site.info.event)
            .finish_non_exhaustive()
    }
}

impl AsyncCall {
    /// A call of `site` that has not started: owes nothing. The instrumented future holds it
    /// from its first poll and starts it in place ([`AsyncCall::begin`], at that first poll):
    /// built and started by one function that returned it, the call was copied whole into the
    /// future's state (a `memcpy` of the call, about 3% of an async call's time in `perf`).
    #[inline(always)]
    pub fn idle(site: &'static Site) -> AsyncCall {
        AsyncCall {
            core: Core::idle(site),
            ctx: None,
            fresh: None,
        }
    }

    /// Starts this call ([`AsyncCall::idle`]) where it is.
    #[inline]
    pub fn begin(&mut self, bind: CallBinding<'_>, values: &[&dyn Record]) {
        let site = self.core.site;
        let call = self;
        fresh_call(site, &bind, &mut call.fresh);
        let ctx = if call.fresh.is_some() {
            // A span that wants the context after all takes the fresh call into `ctx`.
            CallCtx::Fresh(&mut call.fresh, &mut call.ctx)
        } else {
            call.ctx = call_context(&bind).map(Box::new);
            call.ctx.as_deref_mut().into()
        };
        call.core
            .begin(ctx, values, crate::resource::Meter::for_call());
        // Polled, and finished, wherever the executor runs it: the shard is looked up there.
        call.core.shard = None;
        if site.info.opts.started {
            // Inside the call's context and span, as a poll is.
            let mut guard = call.enter(false);
            guard.call.core.started();
            guard.returned = true;
        }
    }

    /// Runs the code of a function that returns a future (the part before the future is
    /// polled) inside this call: its context installed and its span entered, as for a poll.
    #[inline]
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let mut guard = self.enter(false);
        let out = f();
        guard.returned = true;
        out
    }

    /// Installs the call's context and enters its span until the returned guard drops (a poll,
    /// or the code run by [`AsyncCall::run`]). Not generic: the per-function wrappers around
    /// it stay a few instructions each.
    #[inline]
    fn enter(&mut self, resume: bool) -> PollGuard<'_> {
        // (A call has `fresh` or a context of its own, never both.)
        let scope = match self.fresh {
            Some(f) if f.enter() => Some(PollScope::Fresh),
            Some(f) => {
                // Polled where the thread has a context: the call's own is built and exchanged
                // from now on.
                self.fresh = None;
                self.ctx = Some(Box::new(f.context()));
                self.swap_in()
            }
            None => self.swap_in(),
        };
        let guard = PollGuard {
            call: self,
            scope,
            returned: false,
            ready: false,
        };
        guard.call.core.enter();
        if resume {
            guard.call.core.meter.resume(false);
        }
        guard
    }

    #[inline]
    fn swap_in(&mut self) -> Option<PollScope> {
        self.ctx
            .as_deref_mut()
            .and_then(context::swap_in)
            .map(PollScope::Swapped)
    }

    /// Installs the call's context for good (its end): until the returned value drops.
    fn install(&mut self) -> Option<Installed> {
        match self.fresh.take() {
            Some(f) if f.enter() => Some(Installed::Fresh(FreshGuard)),
            Some(f) => Some(Installed::Scope(ScopeGuard::install(f.context()))),
            None => self
                .ctx
                .take()
                .map(|c| Installed::Scope(ScopeGuard::install(*c))),
        }
    }

    /// Records the return value in the completion event (`ret`).
    pub fn ret(&mut self, v: Option<&dyn Record>) {
        self.core.ret(v);
    }

    /// Records the outcome of the returned value.
    #[inline]
    pub fn finish(mut self, f: Finish<'_>) {
        // Installed only for a completion event that may be written (it carries the context);
        // still entered when the poll that completed the body kept it (exited here either way).
        let _scope = if std::mem::take(&mut self.core.kept) {
            Some(Installed::Fresh(FreshGuard))
        } else if self.core.finish_reads_context(&f) {
            self.install()
        } else {
            None
        };
        self.core.entered().finish(f);
    }
}

/// Makes `slot` a [`context::FreshCall`] when an async call of `site` with `bind` can run in
/// one: when it binds nothing or only a string tenant, starts where the thread's context is
/// empty, and nothing it does at its start needs its context as a value (a `tracing` span or
/// an own span carrying its ids, the `started` line).
#[inline]
fn fresh_call(site: &'static Site, bind: &CallBinding<'_>, slot: &mut Option<context::FreshCall>) {
    if site.info.opts.started
        || bind.user.is_some()
        || bind.correlation.is_some()
        || !bind.fields.is_empty()
    {
        return;
    }
    let tenant = match bind.tenant {
        None => None,
        Some(BindValue::Str(t)) => Some(t),
        Some(BindValue::Display(_)) => return,
    };
    if span_enabled(site) {
        return;
    }
    #[cfg(feature = "otlp")]
    if crate::trace::active() && super::core::event_enabled(site, site.info.opts.level).is_some() {
        return;
    }
    context::FreshCall::new_in(slot, tenant);
}

/// How a poll entered the call's context.
enum PollScope {
    /// Exchanged with the poller's ([`context::swap_in`]).
    Swapped(context::Swapped),
    /// Entered through the fast path ([`context::FreshCall::enter`]).
    Fresh,
}

/// The call's context installed for its end ([`AsyncCall::install`]), undone on drop. (Only
/// ever on the stack of the call's end, so the size of its larger variant does not matter.)
#[allow(clippy::large_enum_variant)]
enum Installed {
    Scope(#[allow(dead_code)] ScopeGuard),
    Fresh(#[allow(dead_code)] FreshGuard),
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        // The context the completing poll kept for the end, exited whatever happens below
        // (also while unwinding out of the code between that poll and `finish`).
        // (Built only when owed: a guard built and dropped would exit the caller's context.)
        let kept = if std::mem::take(&mut self.core.kept) {
            Some(FreshGuard)
        } else {
            None
        };
        if self.core.done {
            return;
        }
        let f = if self.core.begun {
            Finish {
                outcome: Outcome::Cancelled,
                error: Some(ErrorView::Message("cancelled before completion")),
                error_type: "cancelled",
            }
        } else {
            // Unwinding out of `begin`.
            PANICKED
        };
        let _scope = if kept.is_some() { None } else { self.install() };
        let core = &mut self.core;
        if std::thread::panicking() {
            while_unwinding(|| core.entered().finish(f));
        } else {
            core.entered().finish(f);
        }
    }
}

/// The body of an async call, run inside the call's context and span. The macro builds it in
/// place around the body pinned where it is awaited (`Instrumented { call: &mut call, fut:
/// pin!(body) }.await`): no constructor and no pin projection, so the only generic item it adds
/// per instrumented function is its `poll` (issue #14: compile time per function).
#[doc(hidden)]
pub struct Instrumented<'a, F> {
    pub call: &'a mut AsyncCall,
    pub fut: Pin<&'a mut F>,
}

impl<F> fmt::Debug for Instrumented<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented").finish_non_exhaustive()
    }
}

/// One poll of an async call's body: the context installed and the span entered, both undone
/// on drop (also while unwinding, recording `panic` then).
struct PollGuard<'a> {
    call: &'a mut AsyncCall,
    /// The call's context is exchanged with the thread's (`call.ctx` holds the poller's), or
    /// entered through the fast path.
    scope: Option<PollScope>,
    /// The poll returned: dropped without it, the poll is unwinding.
    returned: bool,
    /// The poll returned `Ready`: the call's end follows in the same poll of the enclosing
    /// future (the macro's code after the body's `.await`), with nothing else run in between
    /// but the call's own `ret` and outcome probes ([`Core::kept`]).
    ready: bool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let core = &mut self.call.core;
        core.meter.pause();
        if !self.returned {
            while_unwinding(|| {
                if !core.done {
                    core.finish_panic();
                }
            });
            while_unwinding(|| core.exit());
        } else {
            core.exit();
        }
        match self.scope.take() {
            Some(PollScope::Swapped(scope)) => {
                if let Some(ctx) = self.call.ctx.as_deref_mut() {
                    context::swap_out(ctx, scope);
                }
            }
            // The body completed: its context stays entered as it is (read or changed inside
            // the poll or not) for the call's end, which exits it: exiting it here and entering
            // it again there was work for nothing.
            Some(PollScope::Fresh) if self.ready => self.call.core.kept = true,
            Some(PollScope::Fresh) => {
                // Read or changed inside the poll: the call keeps its context from now on.
                if let Some(ctx) = context::exit_fresh_capture() {
                    self.call.fresh = None;
                    self.call.ctx = Some(Box::new(ctx));
                }
            }
            None => {}
        }
    }
}

impl<F: Future> Future for Instrumented<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let mut guard = this.call.enter(true);
        let out = this.fut.as_mut().poll(cx);
        guard.returned = true;
        guard.ready = out.is_ready();
        out
    }
}

// Functions that return a future without being `async fn`: the boxed-future probes.
//
// `impl Future<Output = T>` and a spelled-out `Pin<Box<dyn Future<Output = T> + ..>>` are
// recognised by the macro, which wraps the returned future. A type alias (`BoxFuture<'a, T>`)
// hides the future from the macro: with `#[observed(future)]` it is wrapped like the spelled-out
// form ([`box_future`]); without it, a function instrumented as synchronous whose return value
// is a boxed `dyn Future` fails to compile ([`not_a_boxed_future`]), since its duration and
// outcome would be those of creating the future, not of running it. Other named future types
// (`JoinHandle`, `Ready`) are values of their own: instrumented as synchronous calls.

/// Wraps the return value of a synchronous call for the autoref probe below.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct SyncCheck<'a, T: ?Sized>(pub &'a T);

/// The return value of a sync-shaped function is a boxed `dyn Future`.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct BoxedFuture;

/// Anything else.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct NotAFuture;

/// The autoref probe: one trait, found on `SyncCheck<boxed dyn Future>` itself, else on
/// `&SyncCheck<T>` one reference further (one trait instead of two: issue #14, compile time).
#[doc(hidden)]
pub trait SyncVia {
    type Kind;
    fn __observa_sync(&self) -> Self::Kind;
}

macro_rules! boxed_dyn {
    ($($bounds:tt)*) => {
        impl<'a, 'b, O> SyncVia for SyncCheck<'a, Pin<Box<dyn Future<Output = O> $($bounds)* + 'b>>> {
            type Kind = BoxedFuture;
            #[inline]
            fn __observa_sync(&self) -> BoxedFuture {
                BoxedFuture
            }
        }
    };
}
boxed_dyn!();
boxed_dyn!(+ Send);
boxed_dyn!(+ Send + Sync);

impl<T: ?Sized> SyncVia for &SyncCheck<'_, T> {
    type Kind = NotAFuture;
    #[inline]
    fn __observa_sync(&self) -> NotAFuture {
        NotAFuture
    }
}

/// The bound a synchronous call's return value passes unless it is a boxed future.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[observed]` cannot see that this function returns a future: it would time the creation of the future, not its work",
    label = "a boxed future behind a type alias",
    note = "write `#[observed(future)]` to instrument the returned future"
)]
pub trait SyncReturn {}

impl SyncReturn for NotAFuture {}

/// Compile-time check of a synchronous call's return value (nothing runs).
#[doc(hidden)]
#[inline(always)]
pub fn not_a_boxed_future<S: SyncReturn>(_: S) {}

/// A future boxed into the declared return type of an `#[observed(future)]` function.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[observed(future)]` needs a function that returns a boxed future, not `{Self}`",
    label = "not `Pin<Box<dyn Future<Output = _> + Send + '_>>`",
    note = "`future` is for a type alias of a boxed future such as `BoxFuture<'a, T>`; remove it to instrument the call as synchronous"
)]
pub trait FromFuture<F> {
    fn from_future(f: F) -> Self;
}

impl<'a, F: Future + 'a> FromFuture<F> for Pin<Box<dyn Future<Output = F::Output> + 'a>> {
    #[inline]
    fn from_future(f: F) -> Self {
        Box::pin(f)
    }
}

impl<'a, F: Future + Send + 'a> FromFuture<F>
    for Pin<Box<dyn Future<Output = F::Output> + Send + 'a>>
{
    #[inline]
    fn from_future(f: F) -> Self {
        Box::pin(f)
    }
}

impl<'a, F: Future + Send + Sync + 'a> FromFuture<F>
    for Pin<Box<dyn Future<Output = F::Output> + Send + Sync + 'a>>
{
    #[inline]
    fn from_future(f: F) -> Self {
        Box::pin(f)
    }
}

/// Boxes an instrumented future into the declared (boxed) return type.
#[doc(hidden)]
#[inline]
pub fn box_future<R: FromFuture<F>, F>(f: F) -> R {
    R::from_future(f)
}

/// An instrumented future for an `impl Future + Unpin` return type.
#[doc(hidden)]
#[inline]
pub fn pinned<F: Future>(f: F) -> Pin<Box<F>> {
    Box::pin(f)
}
