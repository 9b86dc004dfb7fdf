//! Isolation under panic (DESIGN.md section 7): whatever panics while an `#[observed]` call
//! starts, polls or finishes (a `#[redact(with = f)]` mask, a `Record` impl, the `Display` of a
//! bound tenant, a subscriber), no thread-local or task-local state survives the call and the
//! in-flight gauges come back to 0. Each case panics on the test's own thread, catches the
//! panic, then checks that the next top-level calls on that thread get fresh correlation ids,
//! see no tenant bound by an earlier call, and that the gauge (parsed back from the exposition)
//! is 0. The HTTP case runs a real axum server whose inner service panics inside `call`.

use observa::{FieldValue, Record, Redact, observed};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

mod log_support;

fn setup() {
    log_support::capture("isolation-tests", "info");
}

/// `<family>_in_flight{event="<event>"}`, parsed back from the exposition.
fn gauge(family: &str, event: &str) -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    let name = format!("{family}_in_flight");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && s.labels.get("event") == Some(event))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no {name}{{event={event:?}}} in:\n{text}"))
}

type Seen = (Option<String>, Option<String>);

fn seen() -> Seen {
    (
        observa::context::correlation_id().map(|i| i.to_string()),
        observa::context::tenant_id().map(|i| i.to_string()),
    )
}

/// A top-level call: what it sees, then it binds `tenant` (which must not outlive it).
#[observed(event = "iso.probe", metric = "iso_probe")]
fn probe(tenant: Option<&str>) -> Seen {
    let s = seen();
    if let Some(t) = tenant {
        observa::context::bind(Some(t), None);
    }
    s
}

#[observed(event = "iso.probe_async", metric = "iso_probe")]
async fn probe_async(tenant: Option<&str>) -> Seen {
    let s = seen();
    if let Some(t) = tenant {
        observa::context::bind(Some(t), None);
    }
    s
}

fn base_is_empty(what: &str) {
    let c = observa::context::current();
    assert_eq!(
        c.correlation_id(),
        None,
        "{what}: base context kept a correlation id"
    );
    assert_eq!(c.tenant_id(), None, "{what}: base context kept a tenant");
    assert_eq!(c.user_id(), None, "{what}: base context kept a user");
}

/// The thread is clean: outside calls nothing is bound; two top-level calls get two fresh
/// correlation ids and the tenant bound in the first is not seen by the second.
fn assert_clean(what: &str, run: &dyn Fn(Option<&str>) -> Seen) {
    base_is_empty(what);
    let (c1, t1) = run(Some("leaked-tenant"));
    let (c2, t2) = run(None);
    assert!(c1.is_some() && c2.is_some(), "{what}: {c1:?} {c2:?}");
    assert_ne!(c1, c2, "{what}: two top-level calls share a correlation id");
    assert_eq!(t1, None, "{what}: a tenant leaked into a later call");
    assert_eq!(
        t2, None,
        "{what}: `context::bind` in one call was seen by the next"
    );
    base_is_empty(what);
}

fn sync_probe(t: Option<&str>) -> Seen {
    probe(t)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn expect_panic(what: &str, f: impl FnOnce()) {
    let r = catch_unwind(AssertUnwindSafe(f));
    assert!(r.is_err(), "{what}: expected a panic");
}

// --- panic sources ---------------------------------------------------------------------------

/// A `Record` impl that panics.
struct Boom;

impl Record for Boom {
    fn record(&self) -> FieldValue<'_> {
        panic!("record panicked")
    }
}

/// A mask function that slices a short string (the classic out-of-bounds mask).
fn first_eight(v: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}***", &v[..8])
}

#[derive(Redact)]
struct Contact {
    #[redact(with = first_eight)]
    phone: String,
}

/// A tenant whose `Display` panics when asked to (`BadTenant(false)` registers the site).
struct BadTenant(bool);

impl fmt::Display for BadTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            panic!("tenant display panicked")
        }
        f.write_str("good-tenant")
    }
}

#[observed(event = "iso.record", metric = "iso_record", fields(v))]
fn with_record(v: Boom) -> u32 {
    let _ = v;
    1
}

#[observed(event = "iso.record_async", metric = "iso_record_async", fields(v))]
async fn with_record_async(v: Boom) -> u32 {
    let _ = v;
    1
}

#[observed(event = "iso.mask", metric = "iso_mask", fields(contact))]
fn with_mask(contact: &Contact) -> u32 {
    contact.phone.len() as u32
}

#[observed(event = "iso.mask_async", metric = "iso_mask_async", fields(contact))]
async fn with_mask_async(contact: &Contact) -> u32 {
    contact.phone.len() as u32
}

#[observed(event = "iso.tenant", metric = "iso_tenant", tenant)]
fn with_tenant(tenant: BadTenant) -> u32 {
    let _ = tenant;
    1
}

#[observed(event = "iso.tenant_async", metric = "iso_tenant_async", tenant)]
async fn with_tenant_async(tenant: BadTenant) -> u32 {
    let _ = tenant;
    1
}

#[test]
fn a_panicking_record_impl_leaves_the_thread_clean() {
    setup();
    expect_panic("record", || {
        with_record(Boom);
    });
    assert_eq!(gauge("iso_record", "iso.record"), 0.0);
    assert_clean("record", &sync_probe);
}

#[test]
fn a_panicking_record_impl_in_an_async_call_leaves_the_thread_clean() {
    setup();
    let rt = rt();
    expect_panic("record async", || {
        rt.block_on(with_record_async(Boom));
    });
    assert_eq!(gauge("iso_record_async", "iso.record_async"), 0.0);
    assert_clean("record async", &|t| rt.block_on(probe_async(t)));
}

#[test]
fn a_panicking_mask_leaves_the_thread_clean() {
    setup();
    let contact = Contact {
        phone: "+44 20".into(),
    };
    expect_panic("mask", || {
        with_mask(&contact);
    });
    assert_eq!(gauge("iso_mask", "iso.mask"), 0.0);
    assert_clean("mask", &sync_probe);
}

#[test]
fn a_panicking_mask_in_an_async_call_leaves_the_thread_clean() {
    setup();
    let rt = rt();
    let contact = Contact {
        phone: "+44 20".into(),
    };
    expect_panic("mask async", || {
        rt.block_on(with_mask_async(&contact));
    });
    assert_eq!(gauge("iso_mask_async", "iso.mask_async"), 0.0);
    assert_clean("mask async", &|t| rt.block_on(probe_async(t)));
}

#[test]
fn a_panicking_tenant_display_leaves_the_thread_clean() {
    setup();
    with_tenant(BadTenant(false));
    probe_nested_tenant(false);
    // Inside a top-level call too: the nested call's panic unwinds through the outer one.
    expect_panic("tenant", || {
        with_tenant(BadTenant(true));
    });
    expect_panic("tenant nested", || {
        probe_nested_tenant(true);
    });
    assert_eq!(gauge("iso_tenant", "iso.tenant"), 0.0);
    assert_eq!(gauge("iso_probe", "iso.nested"), 0.0);
    assert_clean("tenant", &sync_probe);
    let rt = rt();
    rt.block_on(with_tenant_async(BadTenant(false)));
    expect_panic("tenant async", || {
        rt.block_on(with_tenant_async(BadTenant(true)));
    });
    assert_eq!(gauge("iso_tenant_async", "iso.tenant_async"), 0.0);
    assert_clean("tenant async", &|t| rt.block_on(probe_async(t)));
}

#[observed(event = "iso.nested", metric = "iso_probe")]
fn probe_nested_tenant(fail: bool) -> u32 {
    observa::context::bind(Some("outer-tenant"), None);
    with_tenant(BadTenant(fail))
}

// --- a subscriber that panics ------------------------------------------------------------------

/// Where the test subscriber panics.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    NewSpan,
    Enter,
    FailedEvent,
}

/// A minimal subscriber that panics at one point for spans/events of `iso.sub*` sites.
struct Panicky(Fault);

impl tracing::Subscriber for Panicky {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        if self.0 == Fault::NewSpan && a.metadata().name().starts_with("iso.sub") {
            panic!("subscriber panicked in new_span");
        }
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if self.0 == Fault::FailedEvent {
            struct Name(bool);
            impl tracing::field::Visit for Name {
                fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                    if f.name() == "event" && v.starts_with("iso.sub") && v.ends_with(".failed") {
                        self.0 = true;
                    }
                }
                fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn fmt::Debug) {}
            }
            let mut n = Name(false);
            e.record(&mut n);
            if n.0 {
                panic!("subscriber panicked on a failed event");
            }
        }
    }
    fn enter(&self, _: &tracing::span::Id) {
        if self.0 == Fault::Enter {
            panic!("subscriber panicked in enter");
        }
        DEPTH.set(DEPTH.get() + 1);
    }
    fn exit(&self, _: &tracing::span::Id) {
        DEPTH.set(DEPTH.get() - 1);
    }
}

thread_local! {
    /// Spans entered and not exited on this thread, as the subscriber sees them (a registry's
    /// span stack: a span left entered becomes the parent of everything after it).
    static DEPTH: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

#[observed(event = "iso.sub", metric = "iso_sub")]
fn sub_call(fail: bool) -> Result<u32, String> {
    if fail { Err("failed".into()) } else { Ok(1) }
}

#[observed(event = "iso.sub_enabled", metric = "iso_sub_enabled")]
fn sub_enabled() -> u32 {
    1
}

#[observed(event = "iso.sub_fails", metric = "iso_sub_fails")]
fn sub_fails() -> Result<u32, String> {
    Err("failed".into())
}

#[observed(event = "iso.sub_body", metric = "iso_sub_body")]
fn sub_body_panics() -> u32 {
    panic!("body panicked")
}

#[observed(event = "iso.sub_async", metric = "iso_sub_async")]
async fn sub_call_async() -> u32 {
    tokio::task::yield_now().await;
    1
}

fn with_subscriber(fault: Fault, f: impl FnOnce()) {
    tracing::subscriber::with_default(Panicky(fault), f);
    assert_eq!(DEPTH.get(), 0, "a span was left entered on this thread");
}

#[observed(event = "iso.sub_async_fail", metric = "iso_sub_async_fail")]
async fn sub_async_fails() -> Result<u32, String> {
    tokio::task::yield_now().await;
    Err("failed".into())
}

#[test]
fn a_subscriber_panicking_while_an_async_call_finishes_leaves_the_thread_clean() {
    setup();
    let rt = rt();
    // `finish` writes `iso.sub_async_fail.failed` with the call's context installed and its
    // span entered; the subscriber panics there. Before: the span stayed entered.
    with_subscriber(Fault::FailedEvent, || {
        expect_panic("async finish", || {
            let _ = rt.block_on(sub_async_fails());
        });
    });
    assert_eq!(gauge("iso_sub_async_fail", "iso.sub_async_fail"), 0.0);
    assert_clean("async finish", &|t| rt.block_on(probe_async(t)));
}

#[test]
fn a_subscriber_panicking_while_a_call_starts_leaves_the_thread_clean() {
    setup();
    for fault in [Fault::NewSpan, Fault::Enter] {
        with_subscriber(fault, || {
            expect_panic("subscriber", || {
                let _ = sub_call(false);
            });
        });
        assert_eq!(gauge("iso_sub", "iso.sub"), 0.0);
        assert_clean("subscriber", &sync_probe);
    }
}

/// `<family>_total{event, outcome}`, parsed back from the exposition (0 when absent).
fn calls(family: &str, event: &str, outcome: &str) -> f64 {
    let text = observa::metrics::render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    let name = format!("{family}_total");
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && s.labels.get("event") == Some(event)
                && s.labels.get("outcome") == Some(outcome)
        })
        .map_or(0.0, |s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
}

/// A subscriber asked about every span and event per call (`register_callsite` says
/// `sometimes`), answering with its closure.
struct AskedPerCall<F>(F);

impl<F: Fn(&tracing::Metadata<'_>) -> bool + 'static> tracing::Subscriber for AskedPerCall<F> {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        (self.0)(meta)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_subscriber_panicking_in_enabled_as_a_call_starts_counts_the_call_as_panicked() {
    setup();
    // A call with nothing to record asks the subscriber whether it wants the call's span
    // before deciding it keeps only metrics (the lean path). The panic there is the call's
    // outcome, as a panic in `new_span` is: counted, and the gauge balanced. Before: the call
    // was counted only once that question was answered, so the panic left no trace.
    let before = calls("iso_sub_enabled", "iso.sub_enabled", "panic");
    let panics_for_the_span = AskedPerCall(|meta: &tracing::Metadata<'_>| {
        if meta.is_span() && meta.name() == "iso.sub_enabled" {
            panic!("subscriber panicked in enabled");
        }
        true
    });
    tracing::subscriber::with_default(panics_for_the_span, || {
        expect_panic("enabled", || {
            let _ = sub_enabled();
        });
    });
    assert_eq!(gauge("iso_sub_enabled", "iso.sub_enabled"), 0.0);
    assert_eq!(
        calls("iso_sub_enabled", "iso.sub_enabled", "panic"),
        before + 1.0
    );
    assert_clean("enabled", &sync_probe);
}

#[test]
fn a_subscriber_panicking_while_an_async_call_polls_leaves_the_thread_clean() {
    setup();
    let rt = rt();
    for fault in [Fault::NewSpan, Fault::Enter] {
        with_subscriber(fault, || {
            expect_panic("subscriber async", || {
                rt.block_on(sub_call_async());
            });
        });
        assert_eq!(gauge("iso_sub_async", "iso.sub_async"), 0.0);
        assert_clean("subscriber async", &|t| rt.block_on(probe_async(t)));
    }
}

#[test]
fn a_subscriber_panicking_on_the_failed_event_of_a_panicking_body_does_not_abort() {
    setup();
    // Before: the body's panic unwound into the call's drop, which wrote `iso.sub_body.failed`;
    // the subscriber panicked again during unwinding and the process aborted.
    with_subscriber(Fault::FailedEvent, || {
        expect_panic("body", || {
            sub_body_panics();
        });
        // A failed completion written in `finish` (not while unwinding) panics normally. (A
        // site of its own: `iso.sub` is in flight in another test running at the same time, and
        // its gauge read here was flaky.)
        expect_panic("finish", || {
            let _ = sub_fails();
        });
    });
    assert_eq!(gauge("iso_sub_body", "iso.sub_body"), 0.0);
    assert_eq!(gauge("iso_sub_fails", "iso.sub_fails"), 0.0);
    assert_clean("failed event", &sync_probe);
}

// --- HTTP layer ---------------------------------------------------------------------------------

fn http_in_flight() -> Option<f64> {
    observa::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix("http_requests_in_flight "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_http_in_flight_gauge_is_balanced_when_the_inner_service_panics_in_call() {
    setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // `call` of this service panics before it returns a future (synchronously).
        let boom =
            tower::service_fn(
                |_req: axum::extract::Request| -> std::future::Ready<
                    Result<axum::response::Response, std::convert::Infallible>,
                > { panic!("inner service panicked in call") },
            );
        // The layer wraps the service itself (not axum's `Route`, which defers `call` to its
        // future), and no outer layer catches: the panic unwinds out of the layer's `call`
        // into the server's connection task.
        use tower::Layer as _;
        let app = axum::Router::new()
            .route_service("/boom", observa::http::layer().layer(boom))
            .route("/ok", axum::routing::get(|| async { "ok" }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(
                l,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let r = client.get(format!("http://{addr}/boom")).send().await;
            assert!(
                r.is_err(),
                "the connection of a panicking service is closed"
            );
        }
        let ok = client
            .get(format!("http://{addr}/ok"))
            .send()
            .await
            .expect("ok request");
        assert_eq!(ok.status(), 200);
        // The server task unwinds before the client sees the connection close, but read the
        // gauge until it settles rather than race the scheduler.
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_in_flight() != Some(0.0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            http_in_flight(),
            Some(0.0),
            "{}",
            observa::metrics::render()
        );
    });
}

// --- sampled completion lines -----------------------------------------------------------------

#[observed(event = "iso.sampled", metric = "iso_sampled", sample = 0.01)]
fn sampled_call() -> u32 {
    1
}

#[test]
fn a_sampled_out_completion_does_not_ask_the_subscriber() {
    setup();
    // `sample = 0.01`: the draw comes first, so about 1% of the calls ask the subscriber
    // about their completion line. Before (the lean path's first version): every call asked.
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let counts_events_here = AskedPerCall(move |meta: &tracing::Metadata<'_>| {
        if meta.is_event() && meta.target() == module_path!() {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        !meta.is_span()
    });
    tracing::subscriber::with_default(counts_events_here, || {
        for _ in 0..2000 {
            sampled_call();
        }
    });
    let asked = asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        asked < 200,
        "{asked} of 2000 sampled calls asked the subscriber"
    );
}
