//! The async call paths: an `async fn` body or a returned future run inside the call
//! ([`AsyncCall`], [`Bound`], one [`PollGuard`] per poll), and the compile-time probes for
//! functions that return a boxed future behind a type alias.

use super::core::{Core, PANICKED, while_unwinding};
use super::field::{CallBinding, call_context};
use super::site::Site;
use crate::context::{self, Context, ScopeGuard};
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
    ctx: Option<Context>,
}

impl fmt::Debug for AsyncCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCall")
            .field("site", &self.core.site.info.event)
            .finish_non_exhaustive()
    }
}

impl AsyncCall {
    /// Starts an async call (at the first poll of the instrumented future).
    #[inline]
    pub fn start(site: &'static Site, bind: CallBinding<'_>, values: &[&dyn Record]) -> AsyncCall {
        let mut call = AsyncCall {
            core: Core::idle(site),
            ctx: None,
        };
        call.ctx = call_context(&bind);
        call.core.begin(
            call.ctx.as_mut(),
            values,
            crate::resource::Meter::for_call(),
        );
        // Polled, and finished, wherever the executor runs it: the shard is looked up there.
        call.core.shard = None;
        if site.info.opts.started {
            // Inside the call's context and span, as a poll is.
            let mut guard = call.enter(false);
            guard.call.core.started();
            guard.returned = true;
        }
        call
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
        let scope = self.ctx.as_mut().and_then(context::swap_in);
        let guard = PollGuard {
            call: self,
            scope,
            returned: false,
        };
        guard.call.core.enter();
        if resume {
            guard.call.core.meter.resume(false);
        }
        guard
    }

    /// Records the return value in the completion event (`ret`).
    pub fn ret(&mut self, v: Option<&dyn Record>) {
        self.core.ret(v);
    }

    /// Records the outcome of the returned value.
    #[inline]
    pub fn finish(mut self, f: Finish<'_>) {
        // Installed only for a completion event that may be written (it carries the context).
        let _scope = if self.core.finish_reads_context(&f) {
            self.ctx.take().map(ScopeGuard::install)
        } else {
            None
        };
        self.core.entered().finish(f);
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
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
            // Unwinding out of `start`.
            PANICKED
        };
        let _scope = self.ctx.take().map(ScopeGuard::install);
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
    /// The call's context is exchanged with the thread's (`call.ctx` holds the poller's).
    scope: Option<context::Swapped>,
    /// The poll returned: dropped without it, the poll is unwinding.
    returned: bool,
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
        if let (Some(scope), Some(ctx)) = (self.scope.take(), self.call.ctx.as_mut()) {
            context::swap_out(ctx, scope);
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
