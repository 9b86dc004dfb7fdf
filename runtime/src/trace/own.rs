//! observa's own spans (feature `otlp`): the span of an `#[observed]` call is recorded here and
//! handed to the SDK's batch processor as `SpanData`, not built by `tracing-opentelemetry`.
//!
//! Why: through `tracing-opentelemetry` a bare span cost about 8,800 instructions on the
//! caller's thread (span builder, attribute visitor, extensions, timings, the SDK span and its
//! sampler, context activation), more than fastrace's whole traced call (issue #14). Here the
//! call already knows its ids, values and outcome, typed: the span is one `SpanData` built at
//! the end of the call, with no visitor and no registry lookups.
//!
//! What stays the same for everything around it:
//! - `tracing` spans of other code still go through `tracing-opentelemetry`; the `#[observed]`
//!   `tracing` span itself is still created when a layer other than observa's wants it (a
//!   `fmt` layer, a counting test layer), and hidden from observa's own stack
//!   ([`is_site_span`]);
//! - the call's OpenTelemetry context (its span context) is attached around the body and each
//!   poll, so spans of other code created inside are its children (`tracing-opentelemetry`
//!   takes the current OpenTelemetry context as parent with context activation, its default),
//!   and so is code that reads `opentelemetry::Context::current()`;
//! - a nested call, or one inside a foreign span, takes the current OpenTelemetry context as
//!   parent; a root call inside a context continuing a `traceparent` adopts it; sampling is
//!   parent-based with the configured trace-id ratio, as the SDK's sampler (which decides
//!   roots here too);
//! - events inside the call (other code's `info!`, the completion event) become its span
//!   events; [`OwnEvents`] keeps them from `tracing-opentelemetry`, which would put them on an
//!   enclosing span;
//! - the batch goes through the same exporter: scrubbing, the production allowlist, event
//!   naming, health counters.
//!
//! Limits (documented in the README's "Traces"): the exporter never sees the `#[observed]`
//! `tracing` span, so `tracing_opentelemetry::OpenTelemetrySpanExt` on it, spans created with
//! an explicit `parent:` naming it and tasks run with `.in_current_span()` do not reach this
//! span (`opentelemetry::Context::current()` and `observa::context::spawn` do). The span
//! carries no `thread.*` and no `busy_ns`/`idle_ns` attributes. A site missing from the
//! `inventory` of sites (code loaded after the first span) would be exported twice.

use crate::outcome::{ErrorView, Outcome};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SamplingDecision, ShouldSample, SpanData, SpanEvents,
    SpanProcessor,
};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The pipeline own spans go to: the provider's batch processor, shared, fed through
/// [`Pipe`].
struct Shared {
    batch: Arc<BatchSpanProcessor>,
    ratio: f64,
    scope: InstrumentationScope,
    pipe: Pipe,
}

/// Ended own spans on their way to the batch processor. A call hands over what its span knows
/// ([`Pending`]: ids, values, timestamps, its own events, all as they are) and a thread of its
/// own (`observa-spans`) turns each into the SDK's `SpanData`: its attributes, events and their
/// allocations are made there, not on the caller's thread. (Built by the call, a span cost about
/// nine allocations on the caller's thread, each on malloc's slow path since the exporter's
/// thread frees them: a third of the caller's time in `malloc`/`free` when calls are spaced
/// out, issue #14.) Bounded as the batch processor's queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048
/// by default): a span that finds that many waiting is dropped and counted
/// (`observa_spans_dropped_total`, one WARN), as the batch processor drops one that finds its
/// queue full. Once the pipe is closed (the provider shutting down), or when its thread could
/// not be started, a span is built on the caller's thread and handed over at once, as before.
#[allow(clippy::vec_box)] // As `Queue`.
struct Pipe {
    queue: Mutex<Queue>,
    /// The spans being built, taken from `queue` whole: held for the whole of a drain, so a
    /// flush's drain waits for one in progress on the pipe's thread (every span ended before
    /// the flush is in the batch processor when it flushes).
    building: Mutex<Vec<Box<Pending>>>,
    wake: std::sync::Condvar,
    /// Closed (the provider shutting down) or without a thread: spans are built by the caller.
    closed: AtomicBool,
    /// Spans waiting at most.
    cap: usize,
    /// The number of emptied records in the queue's free list, as last set under its lock:
    /// read without the lock, so that a thread with no spare does not lock for nothing.
    free_hint: std::sync::atomic::AtomicUsize,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Spans waiting that wake the pipe's thread at once (otherwise it drains every
/// [`PIPE_INTERVAL`]).
const PIPE_HIGH: usize = 512;
/// Capacity kept by the pipe's buffers after a burst.
const PIPE_KEEP: usize = 1024;

/// The pipe's shared side: the ended spans waiting, and the records the pipe's thread emptied,
/// kept for the callers' next spans (at most [`PIPE_HIGH`], about 350 KB, after a burst; none
/// once the pipe is closed).
///
/// Why records are recycled (issue #14): a span's record (ids, values, own events, timestamps:
/// about 700 bytes) was built by value, boxed, then moved into the queue at the end, about
/// 600 instructions of copies a call, and allocated on the caller's thread while freed on the
/// pipe's. Now a record is boxed once, written in place, handed over as a pointer, and comes back
/// emptied: a thread with no spare record left takes up to [`SPARES`] of them at once
/// ([`spare_record`]).
// Boxed in the vectors on purpose: a record moves between the call, the queue and the free
// list as a pointer, not as its ~700 bytes.
#[allow(clippy::vec_box)]
#[derive(Default)]
struct Queue {
    spans: Vec<Box<Pending>>,
    free: Vec<Box<Pending>>,
}

/// Records (and span boxes) a thread keeps for its next spans: enough for calls nested a few
/// deep, each of which holds one while it runs.
const SPARES: usize = 4;

thread_local! {
    /// This thread's emptied records, for its next spans.
    static SPARE: RefCell<arrayvec::ArrayVec<Box<Pending>, SPARES>> =
        const { RefCell::new(arrayvec::ArrayVec::new_const()) };
}

/// An emptied record for a new span: one of this thread's spares; with none left, up to
/// [`SPARES`] taken from those the pipe's thread emptied (one lock for several spans, and only
/// when the pipe has some); else a new one.
fn spare_record(pipe: &Pipe) -> Box<Pending> {
    SPARE
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            if s.is_empty() && pipe.free_hint.load(Ordering::Relaxed) > 0 {
                let mut q = pipe.lock();
                let at = q.free.len().saturating_sub(SPARES);
                s.extend(q.free.drain(at..));
                pipe.free_hint.store(q.free.len(), Ordering::Relaxed);
            }
            s.pop()
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(Pending::EMPTY))
}

/// Keeps `p` (its contents dropped here) among this thread's spares, if there is room.
fn keep_spare(mut p: Box<Pending>) {
    p.clear();
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            let _ = s.try_push(p);
        }
    });
}
const PIPE_INTERVAL: Duration = Duration::from_millis(20);

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            queue: Mutex::new(Queue::default()),
            building: Mutex::new(Vec::new()),
            wake: std::sync::Condvar::new(),
            closed: AtomicBool::new(false),
            // The batch processor's own bound (its builder reads the same variable).
            cap: std::env::var("OTEL_BSP_MAX_QUEUE_SIZE")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(2048),
            thread: Mutex::new(None),
            free_hint: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an ended span (the caller's side: one push of a pointer, no allocation once the
    /// queue has grown); once closed, hands it over at once.
    fn push(&self, shared: &Shared, mut p: Box<Pending>) {
        let wake = {
            let mut q = self.lock();
            // Checked under the lock `close_pipe` sets it under: a span queued before is in its
            // final drain, one ended after is handed over here.
            if self.closed.load(Ordering::Acquire) {
                drop(q);
                shared.batch.on_end(p.build(&shared.scope));
                keep_spare(p);
                return;
            }
            if q.spans.len() >= self.cap {
                drop(q);
                super::otlp::health::pipe_full(1);
                keep_spare(p);
                return;
            }
            q.spans.push(p);
            q.spans.len() == PIPE_HIGH
        };
        if wake {
            self.wake.notify_one();
        }
    }

    /// Builds every waiting span and hands it to the batch processor, on the calling thread
    /// (after any drain in progress).
    fn drain(&self, shared: &Shared) {
        let mut building = self.building.lock().unwrap_or_else(|p| p.into_inner());
        // Left by a drain that panicked part way (none built since): dropped and counted, not
        // exported with half their data (nor built again, which could panic again).
        if !building.is_empty() {
            super::otlp::health::pipe_full(building.len() as u64);
            building.clear();
        }
        std::mem::swap(&mut self.lock().spans, &mut *building);
        for p in building.iter_mut() {
            shared.batch.on_end(p.build(&shared.scope));
        }
        {
            let mut q = self.lock();
            let room = PIPE_HIGH.saturating_sub(q.free.len());
            let n = building.len().min(room);
            q.free.extend(building.drain(..n));
            self.free_hint.store(q.free.len(), Ordering::Relaxed);
        }
        building.clear();
        if building.capacity() > PIPE_KEEP {
            building.shrink_to(PIPE_KEEP);
        }
    }
}

/// The pipe's thread: drains it at [`PIPE_HIGH`] or every [`PIPE_INTERVAL`] until closed.
fn run_pipe(shared: &'static Shared) {
    let pipe = &shared.pipe;
    loop {
        {
            let q = pipe.lock();
            if q.spans.len() < PIPE_HIGH && !pipe.closed.load(Ordering::Acquire) {
                let _ = pipe.wake.wait_timeout(q, PIPE_INTERVAL);
            }
        }
        pipe.drain(shared);
        // (What is left once closed, `close_pipe` drains after joining this thread.)
        if pipe.closed.load(Ordering::Acquire) {
            return;
        }
    }
}

/// The shared pipeline, when `batch` is its batch processor (a provider built by a second
/// `init` or `layer` that lost the race for the pipeline has its own, and must not touch it).
fn shared_for(batch: &Arc<BatchSpanProcessor>) -> Option<&'static Shared> {
    SHARED.get().filter(|s| Arc::ptr_eq(&s.batch, batch))
}

/// Builds and hands over every own span still waiting (before a flush of the provider: nothing
/// ended before it is left behind).
fn drain_pipe(batch: &Arc<BatchSpanProcessor>) {
    if let Some(shared) = shared_for(batch) {
        shared.pipe.drain(shared);
    }
}

/// Stops the pipe's thread and drains it (the provider's shutdown); spans that end later are
/// handed over by their callers ([`Pipe::push`]).
fn close_pipe(batch: &Arc<BatchSpanProcessor>) {
    if let Some(shared) = shared_for(batch) {
        shared.pipe.close(shared);
    }
}

impl Pipe {
    /// Closes the pipe: its thread stopped and joined, what waits drained, the emptied records
    /// let go (no span is queued any more: none would come back for reuse).
    fn close(&self, shared: &Shared) {
        {
            let _q = self.lock();
            self.closed.store(true, Ordering::Release);
        }
        self.wake.notify_one();
        let t = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
        self.drain(shared);
        let mut q = self.lock();
        q.free = Vec::new();
        self.free_hint.store(0, Ordering::Relaxed);
    }
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The provider's processor: the batch processor, shared with [`install`]'s own spans.
#[derive(Debug)]
pub(crate) struct Processor(Arc<BatchSpanProcessor>);

impl SpanProcessor for Processor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        drain_pipe(&self.0);
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        close_pipe(&self.0);
        self.0.shutdown_with_timeout(timeout)
    }
    // `set_resource`: given to the batch processor before it is shared (see `processor`).
}

/// The own-span pipeline of a provider that is built but not installed yet ([`install`]).
pub(crate) struct OwnPipeline {
    batch: Arc<BatchSpanProcessor>,
    ratio: f64,
}

/// The provider's processor for `exporter` (its resource set), and the pipeline its own spans
/// will take once [`install`]ed.
pub(crate) fn processor<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
    resource: &opentelemetry_sdk::Resource,
    ratio: f64,
) -> (Processor, OwnPipeline) {
    let mut batch = BatchSpanProcessor::builder(exporter).build();
    batch.set_resource(resource);
    let batch = Arc::new(batch);
    (Processor(batch.clone()), OwnPipeline { batch, ratio })
}

/// Makes `p` the process's own-span pipeline and starts its thread: called once `init` or
/// `layer` has claimed the process (not when the provider is built: a provider that loses the
/// claim, or whose subscriber cannot be installed, is dropped and shut down, and own spans must
/// not go to it). One pipeline per process: the first installed is kept.
pub(crate) fn install(p: OwnPipeline) {
    if SHARED
        .set(Shared {
            batch: p.batch,
            ratio: p.ratio,
            scope: InstrumentationScope::builder("observa").build(),
            pipe: Pipe::new(),
        })
        .is_err()
    {
        return;
    }
    let Some(shared) = SHARED.get() else { return };
    match std::thread::Builder::new()
        .name("observa-spans".into())
        .spawn(move || run_pipe(shared))
    {
        Ok(t) => {
            *shared.pipe.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        }
        // No thread: each span is built by its caller, as before the pipe.
        Err(_) => {
            shared.pipe.closed.store(true, Ordering::Release);
            crate::metrics::internal_error("otlp");
        }
    }
}

/// Is `meta` the span of an `#[observed]` call site? Those are recorded here, so observa's own
/// layers (log, `tracing-opentelemetry`, Sentry) never need the `tracing` span.
pub(crate) fn is_site_span(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span()
        && site_addrs()
            .spans
            .contains(&(std::ptr::from_ref(meta) as usize))
}

/// Is `meta` one of the completion events of an `#[observed]` call site?
fn is_site_event(meta: &tracing::Metadata<'_>) -> bool {
    site_addrs()
        .events
        .contains(&(std::ptr::from_ref(meta) as usize))
}

/// The metadata addresses of every `#[observed]` site's span and completion events, from the
/// `inventory` of sites, collected once.
struct SiteAddrs {
    spans: Addrs,
    events: Addrs,
}

fn site_addrs() -> &'static SiteAddrs {
    static SITES: OnceLock<SiteAddrs> = OnceLock::new();
    SITES.get_or_init(|| {
        let sites = crate::slo::sites();
        SiteAddrs {
            spans: sites.iter().map(|s| s.span_meta_addr()).collect(),
            events: sites.iter().flat_map(|s| s.event_meta_addrs()).collect(),
        }
    })
}

/// A set of metadata addresses, hashed by one multiplication: asked on every dispatcher
/// `enabled` pass (SipHash was most of that check).
type Addrs = std::collections::HashSet<usize, std::hash::BuildHasherDefault<AddrHasher>>;

#[derive(Default)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, v: usize) {
        // Addresses are aligned: the multiplication spreads the low bits' zeros upwards.
        self.0 = (v as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// Events per span, attributes set through the OpenTelemetry API and links kept: the SDK's
/// default span limits (128 each); the rest is counted as dropped.
const LIMIT: usize = 128;

/// What is added to an own span while it runs, by the call (`started`, the completion), by
/// other code's events while it is the innermost span ([`OwnEvents`]), and through the
/// OpenTelemetry API on the current context ([`Handle`]). Shared by the call and its context.
#[derive(Default)]
struct Recording {
    /// Nothing is kept for a span that is not exported.
    sampled: bool,
    extra: Mutex<Extra>,
}

#[derive(Default)]
struct Extra {
    events: Vec<opentelemetry::trace::Event>,
    dropped_events: u32,
    attrs: Vec<KeyValue>,
    dropped_attrs: u32,
    links: Vec<opentelemetry::trace::Link>,
    dropped_links: u32,
    /// Set through the API (the SDK's order: `Ok` > `Error` > `Unset`).
    status: Status,
    /// An ERROR event happened inside.
    error_event: bool,
    name: Option<Cow<'static, str>>,
}

impl Recording {
    fn with<R>(&self, f: impl FnOnce(&mut Extra) -> R) -> Option<R> {
        if !self.sampled {
            return None;
        }
        Some(f(&mut self.extra.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// Keeps `e` (the first [`LIMIT`] events; the rest are counted); `error`: it was written
    /// at ERROR, which marks the span when nothing else sets its status.
    fn push_event(&self, e: opentelemetry::trace::Event, error: bool) {
        self.with(|x| {
            x.error_event |= error;
            if x.events.len() < LIMIT {
                x.events.push(e);
            } else {
                x.dropped_events = x.dropped_events.saturating_add(1);
            }
        });
    }
}

/// The call's span as the OpenTelemetry API sees it in the current context: what is written
/// through it (`set_attribute`, `add_event`, `set_status`, `add_link`, `update_name`) goes into
/// the exported span; `end` is the call's business.
struct Handle {
    sc: SpanContext,
    rec: Arc<Recording>,
}

impl opentelemetry::trace::Span for Handle {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        self.rec.push_event(
            opentelemetry::trace::Event::new(name, timestamp, attributes, 0),
            false,
        );
    }

    fn span_context(&self) -> &SpanContext {
        &self.sc
    }

    fn is_recording(&self) -> bool {
        self.rec.sampled
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.rec.with(|x| {
            if let Some(a) = x.attrs.iter_mut().find(|a| a.key == attribute.key) {
                *a = attribute;
            } else if x.attrs.len() < LIMIT {
                x.attrs.push(attribute);
            } else {
                x.dropped_attrs = x.dropped_attrs.saturating_add(1);
            }
        });
    }

    fn set_status(&mut self, status: Status) {
        self.rec.with(|x| {
            if status > x.status {
                x.status = status;
            }
        });
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.rec.with(|x| x.name = Some(new_name.into()));
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.rec.with(|x| {
            if x.links.len() < LIMIT {
                x.links
                    .push(opentelemetry::trace::Link::new(span_context, attributes, 0));
            } else {
                x.dropped_links = x.dropped_links.saturating_add(1);
            }
        });
    }

    fn end_with_timestamp(&mut self, _timestamp: SystemTime) {}
}

/// The own span entered on this thread, innermost last, with the guard of its attached
/// OpenTelemetry context.
struct Entered {
    span_id: SpanId,
    rec: Arc<Recording>,
    _guard: opentelemetry::ContextGuard,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
    /// The span of this thread's last call, released ([`release`]), for its next one: no
    /// allocation of the box, nor of the recording when nothing else kept it (issue #14).
    static SPARE_SPAN: RefCell<arrayvec::ArrayVec<Box<OwnSpan>, SPARES>> =
        const { RefCell::new(arrayvec::ArrayVec::new_const()) };
}

/// `rec` (emptied by [`release`]) for a new span, if no one else holds it.
fn reuse_recording(rec: &mut Arc<Recording>, sampled: bool) -> Option<Arc<Recording>> {
    Arc::get_mut(rec)?.sampled = sampled;
    Some(rec.clone())
}

/// The end of a call's span (the call dropped): its context is dropped here, and the box is
/// kept among this thread's spares, with its recording emptied, when no one else holds that
/// recording (a context kept past the call, by a task it spawned for one, keeps it: the box is
/// then dropped, and the recording left to its holder).
#[inline(never)]
pub(crate) fn release(mut o: Box<OwnSpan>) {
    if let Some(d) = o.data.take() {
        keep_spare(d);
    }
    o.cx = opentelemetry::Context::new();
    let Some(r) = Arc::get_mut(&mut o.rec) else {
        return;
    };
    *r.extra.get_mut().unwrap_or_else(|p| p.into_inner()) = Extra::default();
    o.sc = SpanContext::NONE;
    let _ = SPARE_SPAN.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            let _ = s.try_push(o);
        }
    });
}

/// The span of one call, from its start to its end.
pub(crate) struct OwnSpan {
    sc: SpanContext,
    /// The call's context: the caller's with this span's context.
    cx: opentelemetry::Context,
    rec: Arc<Recording>,
    /// What is exported, written in place (`None` when not sampled, and once handed to the
    /// pipe at the span's end).
    data: Option<Box<Pending>>,
}

/// What a sampled span knows at its start, kept as it is: its attributes are made by the pipe's
/// thread ([`Known::attributes`]).
struct Known {
    /// Correlation, tenant and user ids (inline ids are copied, long ones shared).
    ids: [Option<crate::context::Id>; 3],
    /// The recorded fields (rendered here: they are borrowed from the call; empty, no
    /// allocation, for a site that records none).
    values: Vec<KeyValue>,
    bound: Option<crate::context::BoundFields>,
    target: &'static str,
    file: Option<&'static str>,
    line: Option<u32>,
    module: Option<&'static str>,
}

/// One of the call's own events ([`OwnSpan::event`]), with the number of other events the span
/// had then: its place among them.
struct OwnEvent {
    at: usize,
    name: &'static str,
    time: SystemTime,
    level: tracing::Level,
    target: &'static str,
    done: Option<(f64, &'static str)>,
    error: Option<String>,
    error_type: Option<String>,
    fields: Option<String>,
}

/// The record of a sampled span: filled while it runs, then, ended, on its way to the batch
/// processor ([`Pipe`]); emptied there and reused ([`Queue`]).
struct Pending {
    sc: SpanContext,
    parent: SpanId,
    parent_remote: bool,
    name: &'static str,
    start: SystemTime,
    end: SystemTime,
    outcome: Outcome,
    /// The call's error, scrubbed (a failure only).
    error: Option<String>,
    /// What is known at the start, as it is.
    known: Option<Known>,
    /// The call's own events (`started`, the completion), kept as they are.
    own_events: [Option<OwnEvent>; 2],
    extra: Extra,
}

/// What the call site tells the span.
pub(crate) struct SiteView<'a> {
    pub(crate) name: &'static str,
    pub(crate) target: &'static str,
    pub(crate) file: Option<&'static str>,
    pub(crate) line: Option<u32>,
    pub(crate) module: Option<&'static str>,
    pub(crate) fields: &'static [&'static str],
    pub(crate) values: &'a [&'a dyn crate::record::Record],
}

impl OwnSpan {
    /// Starts the span of a call running in `ctx` (observa's context: ids, bound fields, a
    /// continued `traceparent`).
    pub(crate) fn start(
        site: &SiteView<'_>,
        ctx: &crate::context::Context,
    ) -> Option<Box<OwnSpan>> {
        let shared = SHARED.get()?;
        if SHUT.load(Ordering::Relaxed) {
            return None;
        }
        // The innermost span of this thread (an own span, or another crate's through
        // `tracing-opentelemetry`'s context activation) is the parent.
        let current = opentelemetry::Context::map_current(|cx| {
            let s = cx.span();
            let sc = s.span_context();
            sc.is_valid().then(|| sc.clone())
        });
        let remote = || remote_span_context(ctx.traceparent()?);
        let span_id = SpanId::from(nonzero(crate::encode::rand::u64));
        let (trace_id, parent, parent_remote, sampled, state) = match current.or_else(remote) {
            Some(p) => (
                p.trace_id(),
                p.span_id(),
                p.is_remote(),
                p.is_sampled(),
                p.trace_state().clone(),
            ),
            None => {
                let trace_id = TraceId::from(nonzero(crate::encode::rand::u128));
                if shared.ratio >= 1.0 {
                    (trace_id, SpanId::INVALID, false, true, TraceState::NONE)
                } else {
                    let r = Sampler::TraceIdRatioBased(shared.ratio).should_sample(
                        None,
                        trace_id,
                        site.name,
                        &SpanKind::Internal,
                        &[],
                        &[],
                    );
                    let sampled = matches!(r.decision, SamplingDecision::RecordAndSample);
                    (trace_id, SpanId::INVALID, false, sampled, r.trace_state)
                }
            }
        };
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let sc = SpanContext::new(trace_id, span_id, flags, false, state);
        // This thread's last span, released by its call ([`release`]): its box, and its recording
        // unless something outside the call still holds it (a context cloned by user code).
        let mut spare = SPARE_SPAN
            .try_with(|s| s.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        let rec = spare
            .as_mut()
            .and_then(|o| reuse_recording(&mut o.rec, sampled))
            .unwrap_or_else(|| {
                Arc::new(Recording {
                    sampled,
                    extra: Mutex::default(),
                })
            });
        let cx = opentelemetry::Context::current().with_span(Handle {
            sc: sc.clone(),
            rec: rec.clone(),
        });
        let data = sampled.then(|| {
            let mut d = spare_record(&shared.pipe);
            d.sc = sc.clone();
            d.parent = parent;
            d.parent_remote = parent_remote;
            d.name = site.name;
            d.known = Some(Known::capture(site, ctx));
            d.start = crate::encode::time::wall_now();
            d
        });
        Some(match spare {
            Some(mut o) => {
                o.sc = sc;
                o.cx = cx;
                o.rec = rec;
                o.data = data;
                o
            }
            None => Box::new(OwnSpan { sc, cx, rec, data }),
        })
    }

    /// Attaches the call's context on this thread until [`OwnSpan::exit`].
    #[inline]
    pub(crate) fn enter(&self) {
        let e = Entered {
            span_id: self.sc.span_id(),
            rec: self.rec.clone(),
            _guard: self.cx.clone().attach(),
        };
        let _ = ENTERED.try_with(|s| s.borrow_mut().push(e));
    }

    /// Detaches what [`OwnSpan::enter`] attached.
    #[inline]
    pub(crate) fn exit(&self) {
        let id = self.sc.span_id();
        let e = ENTERED
            .try_with(|s| {
                let mut s = s.borrow_mut();
                let at = s.iter().rposition(|e| e.span_id == id)?;
                Some(s.remove(at))
            })
            .ok()
            .flatten();
        drop(e);
    }

    /// Records one of the call's own events (`<event>.started`, the completion) as a span
    /// event, with the values of the line.
    pub(crate) fn event(&mut self, e: CallEvent<'_>) {
        let Some(data) = self.data.as_deref_mut() else {
            return;
        };
        let time = since_start(data.start, e.at);
        // Its place among the span's other events (their number now): merged in that order
        // when the span is built. The call's own failure sets the status from its outcome.
        let at = self.rec.with(|x| x.events.len()).unwrap_or(0);
        let ev = OwnEvent {
            at,
            name: e.name,
            time,
            level: e.level,
            target: e.target,
            done: e.done,
            error: e
                .error
                .map(|err| crate::scrub::scrub(&err.to_string()).into_owned()),
            error_type: (!e.error_type.is_empty()).then(|| e.error_type.to_owned()),
            fields: (!e.fields.is_empty()).then(|| e.fields.to_owned()),
        };
        match data.own_events.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(ev),
            // (A call writes two lines at most: `started` and its completion.)
            None => self.rec.push_event(ev.into_event(), false),
        }
    }

    /// Ends the span with the call's outcome and hands it to the pipe (once): the `SpanData`
    /// is built on the pipe's thread. The span stays in the call until it is exited:
    /// [`OwnSpan::exit`] still detaches its context.
    pub(crate) fn end(&mut self, outcome: Outcome, error: Option<ErrorView<'_>>, secs: f64) {
        let Some(mut data) = self.data.take() else {
            return;
        };
        let Some(shared) = SHARED.get() else {
            keep_spare(data);
            return;
        };
        data.extra = std::mem::take(&mut *self.rec.extra.lock().unwrap_or_else(|p| p.into_inner()));
        data.error = if outcome.is_failure() {
            error.map(|e| crate::scrub::scrub(&e.to_string()).into_owned())
        } else {
            None
        };
        data.outcome = outcome;
        let end = since_start(data.start, secs);
        data.end = end.max(data.start);
        shared.pipe.push(shared, data);
    }
}

impl Pending {
    /// A record with nothing in it (no allocation).
    const EMPTY: Pending = Pending {
        sc: SpanContext::NONE,
        parent: SpanId::INVALID,
        parent_remote: false,
        name: "",
        start: SystemTime::UNIX_EPOCH,
        end: SystemTime::UNIX_EPOCH,
        outcome: Outcome::Ok,
        error: None,
        known: None,
        own_events: [None, None],
        extra: Extra {
            events: Vec::new(),
            dropped_events: 0,
            attrs: Vec::new(),
            dropped_attrs: 0,
            links: Vec::new(),
            dropped_links: 0,
            status: Status::Unset,
            error_event: false,
            name: None,
        },
    };

    /// Drops what the record holds, for its reuse.
    fn clear(&mut self) {
        *self = Pending::EMPTY;
    }

    /// The span's `SpanData` (on the pipe's thread): its attributes (what was known at the
    /// start, the outcome, the error, then those set through the API, which replace a value of
    /// the same key as the SDK does), its events (the call's own at their places among the
    /// others, the first [`LIMIT`] kept, as when each was added as it came), links and status.
    fn build(&mut self, scope: &InstrumentationScope) -> SpanData {
        let x = std::mem::take(&mut self.extra);
        let mut attrs = self.known.take().map(Known::attributes).unwrap_or_default();
        let error = self.error.take();
        attrs.push(KeyValue::new("outcome", self.outcome.as_str()));
        let status = if self.outcome.is_failure() {
            if let Some(t) = &error {
                attrs.push(KeyValue::new("error", t.clone()));
            }
            Status::error(error.unwrap_or_default())
        } else if x.status != Status::Unset {
            x.status
        } else if x.error_event {
            Status::error("")
        } else {
            Status::Unset
        };
        let mut dropped_attrs = x.dropped_attrs;
        for a in x.attrs {
            if let Some(old) = attrs.iter_mut().find(|o| o.key == a.key) {
                *old = a;
            } else if attrs.len() < 2 * LIMIT {
                attrs.push(a);
            } else {
                dropped_attrs = dropped_attrs.saturating_add(1);
            }
        }
        let mut own = std::mem::take(&mut self.own_events)
            .into_iter()
            .flatten()
            .peekable();
        let mut list = Vec::with_capacity(x.events.len() + 2);
        for (i, e) in x.events.into_iter().enumerate() {
            while let Some(o) = own.next_if(|o| o.at <= i) {
                list.push(o.into_event());
            }
            list.push(e);
        }
        list.extend(own.map(OwnEvent::into_event));
        let mut events = SpanEvents::default();
        let over = list.len().saturating_sub(LIMIT);
        list.truncate(LIMIT);
        events.events = list;
        events.dropped_count = x
            .dropped_events
            .saturating_add(u32::try_from(over).unwrap_or(u32::MAX));
        let mut links = opentelemetry_sdk::trace::SpanLinks::default();
        links.links = x.links;
        links.dropped_count = x.dropped_links;
        SpanData {
            span_context: std::mem::replace(&mut self.sc, SpanContext::NONE),
            parent_span_id: self.parent,
            parent_span_is_remote: self.parent_remote,
            span_kind: SpanKind::Internal,
            name: x.name.unwrap_or(Cow::Borrowed(self.name)),
            start_time: self.start,
            end_time: self.end,
            attributes: attrs,
            dropped_attributes_count: dropped_attrs,
            events,
            links,
            status,
            instrumentation_scope: scope.clone(),
        }
    }
}

impl OwnEvent {
    /// The span event of this line.
    fn into_event(self) -> opentelemetry::trace::Event {
        call_event(
            CallEvent {
                name: self.name,
                at: 0.0,
                level: self.level,
                target: self.target,
                done: self.done,
                error: None,
                error_type: self.error_type.as_deref().unwrap_or(""),
                fields: self.fields.as_deref().unwrap_or(""),
            },
            self.error,
            self.time,
        )
    }
}

/// The span event of one of a call's own lines; `error`: the text of `e.error` when already
/// rendered (and scrubbed).
fn call_event(
    e: CallEvent<'_>,
    error: Option<String>,
    at: SystemTime,
) -> opentelemetry::trace::Event {
    let mut a = Vec::with_capacity(8);
    a.push(KeyValue::new("event", e.name));
    if let Some((ms, outcome)) = e.done {
        a.push(KeyValue::new("duration_ms", ms));
        a.push(KeyValue::new("outcome", outcome));
    }
    let error = error.or_else(|| {
        e.error
            .map(|err| crate::scrub::scrub(&err.to_string()).into_owned())
    });
    if let Some(err) = error {
        a.push(KeyValue::new("exception.message", err));
    }
    if !e.error_type.is_empty() {
        a.push(KeyValue::new("error_type", e.error_type.to_owned()));
    }
    if !e.fields.is_empty() {
        a.push(KeyValue::new("fields", e.fields.to_owned()));
    }
    a.push(KeyValue::new("level", e.level.as_str()));
    a.push(KeyValue::new("target", e.target));
    opentelemetry::trace::Event::new(e.name, at, a, 0)
}

/// Records the line of a call that has no span of its own (its level is filtered out, or it
/// started before export was on) on the own span that is the innermost span of this thread,
/// if any: the caller then dispatches it off any enclosing span, as for a call's own line.
pub(crate) fn event_on_innermost(e: CallEvent<'_>) -> bool {
    let Some(r) = innermost() else {
        return false;
    };
    let error = e.level == tracing::Level::ERROR;
    r.push_event(call_event(e, None, crate::encode::time::wall_now()), error);
    true
}

/// One of the call's own events, as [`crate::callsite`] writes it.
pub(crate) struct CallEvent<'a> {
    pub(crate) name: &'static str,
    /// Seconds since the call started (its timestamp, without another clock read).
    pub(crate) at: f64,
    pub(crate) level: tracing::Level,
    pub(crate) target: &'static str,
    pub(crate) done: Option<(f64, &'static str)>,
    pub(crate) error: Option<ErrorView<'a>>,
    pub(crate) error_type: &'a str,
    pub(crate) fields: &'a str,
}

/// The remote parent a `traceparent` names, validated by the crate's one parser
/// ([`crate::carrier::TraceParent::parse`]): a malformed, all-zero or version `ff` value names
/// none. Its `sampled` flag is kept as sent; whether to trust it is the caller's decision.
pub(crate) fn remote_span_context(traceparent: &str) -> Option<SpanContext> {
    let tp = crate::carrier::TraceParent::parse(traceparent)?;
    let sc = SpanContext::new(
        TraceId::from(tp.trace_id),
        SpanId::from(tp.parent_id),
        TraceFlags::new(tp.flags & TraceFlags::SAMPLED.to_u8()),
        true,
        TraceState::NONE,
    );
    sc.is_valid().then_some(sc)
}

/// `start` plus `secs` (seconds since the span's start, from the call's clock), to the nearest
/// nanosecond: one multiplication and a saturating conversion (negative and NaN give `start`),
/// where `Duration::from_secs_f64` spent about 40 instructions a call on its exact rounding
/// (and panicked on a value out of range).
fn since_start(start: SystemTime, secs: f64) -> SystemTime {
    start
        .checked_add(Duration::from_nanos((secs * 1e9 + 0.5) as u64))
        .unwrap_or(start)
}

fn nonzero<T: PartialEq + Default>(mut draw: impl FnMut() -> T) -> T {
    loop {
        let v = draw();
        if v != T::default() {
            return v;
        }
    }
}

impl Known {
    /// What a sampled span of `site` running in `ctx` knows at its start.
    fn capture(site: &SiteView<'_>, ctx: &crate::context::Context) -> Known {
        use crate::record::FieldValue;
        let values = site
            .fields
            .iter()
            .zip(site.values)
            .map(|(name, v)| {
                let value = match v.record() {
                    FieldValue::Bool(b) => Value::Bool(b),
                    FieldValue::I64(i) => Value::I64(i),
                    FieldValue::U64(u) => match i64::try_from(u) {
                        Ok(i) => Value::I64(i),
                        Err(_) => Value::from(u.to_string()),
                    },
                    FieldValue::F64(f) => Value::F64(f),
                    other => Value::from(crate::encode::json::DisplayValue(other).to_string()),
                };
                KeyValue::new(*name, value)
            })
            .collect();
        Known {
            ids: ctx.ids(),
            values,
            bound: ctx.fields_shared(),
            target: site.target,
            file: site.file,
            line: site.line,
            module: site.module,
        }
    }

    /// The span's attributes known at its start: the context's ids, the recorded fields, the
    /// bound fields, the code location and target (the keys `tracing-opentelemetry` gave the
    /// same span).
    fn attributes(self) -> Vec<KeyValue> {
        let bound = self.bound;
        let mut a =
            Vec::with_capacity(8 + self.values.len() + bound.as_ref().map_or(0, |b| b.len()));
        for (k, v) in ["correlation_id", "tenant_id", "user_id"]
            .into_iter()
            .zip(self.ids)
        {
            if let Some(v) = v {
                a.push(KeyValue::new(k, v.as_str().to_owned()));
            }
        }
        a.extend(self.values);
        if let Some(b) = bound {
            // Shared (`Arc<str>`): a reference, not a copy.
            for (k, v) in b.iter() {
                a.push(KeyValue::new(
                    opentelemetry::Key::from(k.clone()),
                    Value::from(v.clone()),
                ));
            }
        }
        if let Some(f) = self.file {
            a.push(KeyValue::new("code.file.path", f));
        }
        if let Some(m) = self.module {
            a.push(KeyValue::new("code.module.name", m));
        }
        if let Some(l) = self.line {
            a.push(KeyValue::new("code.line.number", i64::from(l)));
        }
        a.push(KeyValue::new("target", self.target));
        a
    }
}

/// `f` of the own span that is the innermost span of this thread (no span of other code
/// entered inside it), if any. Reads nothing of OpenTelemetry's thread-local unless an own span
/// is entered here; `f` must not run user code (the thread's stack of own spans is borrowed).
fn with_innermost<R>(f: impl FnOnce(&Entered) -> R) -> Option<R> {
    ENTERED
        .try_with(|s| {
            let s = s.try_borrow().ok()?;
            let top = s.last()?;
            let current =
                opentelemetry::Context::map_current(|cx| cx.span().span_context().span_id());
            (current == top.span_id).then(|| f(top))
        })
        .ok()?
}

/// The recording of the innermost own span ([`with_innermost`]), for code that runs user code
/// (an event's `Debug` values) while it writes into it.
fn innermost() -> Option<Arc<Recording>> {
    with_innermost(|e| e.rec.clone())
}

thread_local! {
    /// Contexts carried into spawned tasks and threads ([`carry`]) attached on this thread.
    static CARRIED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// An OpenTelemetry context carried into a task or thread (`observa::context::spawn`),
/// attached until this drops; log lines inside carry its ids.
pub(crate) struct Carried {
    _guard: opentelemetry::ContextGuard,
}

impl Drop for Carried {
    fn drop(&mut self) {
        let _ = CARRIED.try_with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Attaches `cx` on this thread (see [`Carried`]).
pub(crate) fn carry(cx: opentelemetry::Context) -> Carried {
    let _ = CARRIED.try_with(|c| c.set(c.get() + 1));
    Carried {
        _guard: cx.attach(),
    }
}

thread_local! {
    /// The call that owns the completion event being dispatched recorded it on its own span.
    static RECORDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `dispatch` (a call's own event, already recorded on its span by [`OwnSpan::event`])
/// marked so that [`OwnEvents`] does not record it twice.
pub(crate) fn recorded<R>(dispatch: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            RECORDED.set(self.0);
        }
    }
    let _reset = Reset(RECORDED.replace(true));
    dispatch()
}

/// Own spans started from now on are not recorded: the provider is shutting down (the batch
/// processor would refuse them, one by one).
static SHUT: AtomicBool = AtomicBool::new(false);

/// Called before the provider shuts down ([`crate::Guard`]'s drop).
pub(crate) fn shutdown() {
    SHUT.store(true, Ordering::Relaxed);
}

/// Events inside an own span become that span's events ([`OutsideOwnSpans`] keeps them from
/// `tracing-opentelemetry`, which would put them on an enclosing `tracing` span).
#[derive(Debug)]
pub(crate) struct OwnEvents;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OwnEvents {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        // An explicit parent (or an explicit root) is that span's business; the call's own
        // events are recorded typed by the call ([`OwnSpan::event`], [`recorded`]).
        if event.is_contextual()
            && !RECORDED.get()
            && let Some(r) = innermost()
        {
            r.add(event);
        }
    }
}

/// The per-layer filter of `tracing-opentelemetry`: everything, except the events that
/// [`OwnEvents`] records on an own span.
///
/// Needs [`EveryEvent`] beside it: `tracing-subscriber`'s registry drops an event for every
/// layer, filtered or not, when every per-layer filter disabled it (its `FilterState`), and
/// this is the only other per-layer filter in the stack `init` builds.
#[derive(Debug)]
pub(crate) struct OutsideOwnSpans;

impl<S> tracing_subscriber::layer::Filter<S> for OutsideOwnSpans {
    fn enabled(
        &self,
        _meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        true
    }

    /// Events: `sometimes`, so that the dispatcher asks [`Filter::enabled`] first and
    /// `tracing-subscriber`'s filter pass is open when [`Filter::event_enabled`] decides (an
    /// `always` callsite goes straight to `event_enabled`, which its debug assertions reject).
    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        if !meta.is_span() {
            // The completion events of `#[observed]` sites decide by their parent: a call
            // with its own span dispatches its completion as a child of its `tracing` span or
            // as an explicit root (see `Core::emit`), which `tracing-opentelemetry` leaves
            // alone; no per-event decision, no per-event `enabled` pass.
            if is_site_event(meta) {
                tracing_core::subscriber::Interest::always()
            } else {
                tracing_core::subscriber::Interest::sometimes()
            }
        } else if is_site_span(meta) {
            tracing_core::subscriber::Interest::never()
        } else {
            tracing_core::subscriber::Interest::always()
        }
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        // `always` callsites (completion events) must not be refused here (see above).
        !event.is_contextual()
            || is_site_event(event.metadata())
            || with_innermost(|_| ()).is_none()
    }
}

/// A per-layer filter that enables every event and no span, on a layer that does nothing: keeps
/// an event that [`OutsideOwnSpans`] disables alive for the other layers (see there).
#[derive(Debug)]
pub(crate) struct EveryEvent;

impl<S> tracing_subscriber::layer::Filter<S> for EveryEvent {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !meta.is_span()
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        if meta.is_span() {
            tracing_core::subscriber::Interest::never()
        } else {
            tracing_core::subscriber::Interest::always()
        }
    }
}

impl Recording {
    /// Records another crate's event as a span event: its message (or name) as the event name
    /// (renamed after its `event` field by the exporter), its fields as attributes, with its
    /// level and target, as `tracing-opentelemetry` does.
    fn add(&self, event: &tracing::Event<'_>) {
        if !self.sampled {
            return;
        }
        let meta = event.metadata();
        let mut v = EventVisitor {
            name: None,
            attrs: Vec::with_capacity(meta.fields().len() + 2),
        };
        event.record(&mut v);
        v.attrs.push(KeyValue::new("level", meta.level().as_str()));
        v.attrs.push(KeyValue::new("target", meta.target()));
        let name: Cow<'static, str> = match v.name {
            Some(n) => n.into(),
            None => meta.name().into(),
        };
        self.push_event(
            opentelemetry::trace::Event::new(name, crate::encode::time::wall_now(), v.attrs, 0),
            *meta.level() == tracing::Level::ERROR,
        );
    }
}

struct EventVisitor {
    name: Option<String>,
    attrs: Vec<KeyValue>,
}

impl tracing::field::Visit for EventVisitor {
    fn record_bool(&mut self, f: &tracing::field::Field, v: bool) {
        self.attrs.push(KeyValue::new(f.name(), v));
    }

    fn record_i64(&mut self, f: &tracing::field::Field, v: i64) {
        self.attrs.push(KeyValue::new(f.name(), v));
    }

    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        match i64::try_from(v) {
            Ok(i) => self.attrs.push(KeyValue::new(f.name(), i)),
            Err(_) => self.attrs.push(KeyValue::new(f.name(), v.to_string())),
        }
    }

    fn record_f64(&mut self, f: &tracing::field::Field, v: f64) {
        self.attrs.push(KeyValue::new(f.name(), v));
    }

    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        if f.name() == "message" {
            self.name = Some(v.to_owned());
        } else {
            self.attrs.push(KeyValue::new(f.name(), v.to_owned()));
        }
    }

    fn record_error(&mut self, _f: &tracing::field::Field, v: &(dyn std::error::Error + 'static)) {
        self.attrs
            .push(KeyValue::new("exception.message", v.to_string()));
    }

    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        let text = format!("{v:?}");
        if f.name() == "message" {
            self.name = Some(text);
        } else {
            self.attrs.push(KeyValue::new(f.name(), text));
        }
    }
}

/// `(trace_id, span_id)` of the innermost span of this thread, own or another crate's (with
/// context activation `tracing-opentelemetry` attaches an entered span's context), for log
/// lines and Sentry events.
///
/// OpenTelemetry's thread-local is read only when a span is entered on this thread (an own span,
/// or a `tracing` span): a line written from a thread-local destructor after it is gone must
/// not panic.
pub(crate) fn current_ids() -> Option<super::TraceIds> {
    let own = ENTERED
        .try_with(|s| s.try_borrow().is_ok_and(|s| !s.is_empty()))
        .unwrap_or(false)
        || CARRIED.try_with(|c| c.get() > 0).unwrap_or(false);
    if !own && tracing::dispatcher::get_default(|d| d.current_span().id().is_none()) {
        return None;
    }
    opentelemetry::Context::map_current(|cx| {
        let s = cx.span();
        let sc = s.span_context();
        sc.is_valid().then(|| {
            (
                super::HexId::trace(sc.trace_id()),
                super::HexId::span(sc.span_id()),
            )
        })
    })
}

/// Whether a span is current on this thread: an own span or another crate's (its OpenTelemetry
/// context is the current one), or a `tracing` span.
#[cfg(feature = "reqwest")]
pub(crate) fn in_span() -> bool {
    !tracing::Span::current().is_none()
        || opentelemetry::Context::map_current(|cx| cx.span().span_context().is_valid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_otlp::WithExportConfig;

    /// A pipeline of its own (not the process's), exporting to a closed port: what is under test
    /// is the pipe's bookkeeping, not the export.
    fn shared() -> Shared {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint("http://127.0.0.1:9/v1/traces")
            .build()
            .unwrap();
        let (_, own) = processor(
            exporter,
            &opentelemetry_sdk::Resource::builder().build(),
            1.0,
        );
        Shared {
            batch: own.batch,
            ratio: 1.0,
            scope: InstrumentationScope::builder("pool-test").build(),
            pipe: Pipe::new(),
        }
    }

    #[test]
    fn the_pool_of_emptied_records_is_bounded_and_taken_a_few_at_a_time() {
        let shared = shared();
        let pipe = &shared.pipe;
        // A burst far larger than the pool, drained at once.
        pipe.lock()
            .spans
            .extend((0..3 * PIPE_HIGH).map(|_| Box::new(Pending::EMPTY)));
        pipe.drain(&shared);
        assert_eq!(pipe.lock().free.len(), PIPE_HIGH);
        assert_eq!(pipe.free_hint.load(Ordering::Relaxed), PIPE_HIGH);

        // A thread with no spare takes a few, then uses them before taking more.
        std::thread::scope(|s| {
            s.spawn(|| {
                let first = spare_record(pipe);
                assert_eq!(pipe.lock().free.len(), PIPE_HIGH - SPARES);
                let rest: Vec<_> = (1..SPARES).map(|_| spare_record(pipe)).collect();
                assert_eq!(pipe.lock().free.len(), PIPE_HIGH - SPARES);
                let more = spare_record(pipe);
                assert_eq!(pipe.lock().free.len(), PIPE_HIGH - 2 * SPARES);
                assert_eq!(
                    pipe.free_hint.load(Ordering::Relaxed),
                    PIPE_HIGH - 2 * SPARES
                );
                // Kept back: at most SPARES per thread, the rest dropped.
                keep_spare(first);
                keep_spare(more);
                for r in rest {
                    keep_spare(r);
                }
                assert_eq!(SPARE.with(|s| s.borrow().len()), SPARES);
            });
        });
    }

    #[test]
    fn a_closed_pipe_keeps_no_record_and_takes_none_back() {
        let shared = shared();
        let pipe = &shared.pipe;
        pipe.lock()
            .spans
            .extend((0..PIPE_HIGH).map(|_| Box::new(Pending::EMPTY)));
        pipe.drain(&shared);
        assert_eq!(pipe.lock().free.len(), PIPE_HIGH);
        pipe.lock().spans.push(Box::new(Pending::EMPTY));
        pipe.close(&shared);
        let q = pipe.lock();
        assert!(q.spans.is_empty(), "what waited was drained");
        assert_eq!(q.free.capacity(), 0, "the emptied records let go");
        assert_eq!(pipe.free_hint.load(Ordering::Relaxed), 0);
        drop(q);
        // A span ended after the close is built by its caller; its record stays with it.
        pipe.push(&shared, spare_record(pipe));
        assert!(pipe.lock().spans.is_empty());
        assert_eq!(pipe.lock().free.len(), 0);
    }

    #[test]
    fn a_drain_left_part_way_exports_none_of_its_leftovers() {
        let shared = shared();
        let pipe = &shared.pipe;
        // What a drain that panicked after taking its batch leaves behind.
        pipe.building
            .lock()
            .unwrap()
            .extend((0..3).map(|_| Box::new(Pending::EMPTY)));
        pipe.lock().spans.push(Box::new(Pending::EMPTY));
        let dropped = || {
            crate::metrics::render()
                .lines()
                .find_map(|l| l.strip_prefix("observa_spans_dropped_total "))
                .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
        };
        let before = dropped();
        pipe.drain(&shared);
        // Only the queued one went through (and came back emptied); nothing is left to go; the
        // leftovers are counted as dropped.
        assert_eq!(pipe.lock().free.len(), 1);
        assert!(pipe.lock().spans.is_empty());
        assert_eq!(dropped() - before, 3.0);
        assert!(pipe.building.lock().unwrap().is_empty());
    }
}
