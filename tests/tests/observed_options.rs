//! The documented `#[observed]` options on their real output: `name`, `target`, `started`,
//! `metrics = false`, `err(Debug)`, `impl`-block event naming and `#[async_trait]` methods.
//!
//! observa runs as a layer (`observa::layer`) in a registry beside a second layer that records
//! the spans it is given (the span name is what a trace backend shows; observa's own lines do not
//! carry it). Lines are read back from observa's writer as JSON, metrics from the exposition
//! parsed with `prometheus-parse`.

use observa::observed;
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The second layer: every span created, as (name, target).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, String)>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _cx: Context<'_, S>,
    ) {
        let m = attrs.metadata();
        self.0
            .lock()
            .unwrap()
            .push((m.name().to_owned(), m.target().to_owned()));
    }
}

/// Level directives: the default `info`, this file at `debug`, and two custom targets.
const FILTER: &str = "info,quiet_tgt=warn,loud_tgt=debug";

static INSTALLED: OnceLock<(observa::MemoryWriter, Spans)> = OnceLock::new();

fn setup() -> &'static (observa::MemoryWriter, Spans) {
    INSTALLED.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let spans = Spans::default();
        let (layer, guard) = observa::layer(
            observa::Config::new("observed-options")
                .with_writer(w.clone())
                .with_log_level(FILTER),
        )
        .expect("layer");
        std::mem::forget(guard);
        let subscriber = tracing_subscriber::registry()
            .with(layer)
            .with(spans.clone());
        tracing::subscriber::set_global_default(subscriber).expect("global subscriber");
        (w, spans)
    })
}

fn all_lines() -> Vec<Value> {
    setup()
        .0
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The lines matching `filter` once `pred` holds for them (or after 10 s).
fn wait_lines(filter: impl Fn(&Value) -> bool, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<Value> = all_lines().into_iter().filter(|v| filter(v)).collect();
        if pred(&got) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn events(prefix: &str, n: usize) -> Vec<Value> {
    wait_lines(
        |v| v["event"].as_str().is_some_and(|e| e.starts_with(prefix)),
        |l| l.len() >= n,
    )
}

fn span_names() -> Vec<(String, String)> {
    setup().1.0.lock().unwrap().clone()
}

/// The parsed exposition.
fn scrape() -> prometheus_parse::Scrape {
    let text = observa::metrics::render();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("exposition")
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(value)
}

/// `(le, cumulative count)` of the histogram `name` with `labels`.
fn buckets(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<(f64, f64)> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .flat_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(h) => {
                h.iter().map(|b| (b.less_than, b.count)).collect::<Vec<_>>()
            }
            _ => Vec::new(),
        })
        .collect()
}

#[derive(Debug)]
struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

// ---------------------------------------------------------------------------------------------
// `name`: the span's name; the event id (lines, metric label) stays `event`.

#[observed(event = "opt.renamed", name = "charge_card_span", metric = "opt_named")]
fn renamed() -> u8 {
    4
}

#[observed(event = "opt.unnamed", metric = "opt_named")]
fn unnamed() -> u8 {
    5
}

#[test]
fn name_names_the_span_and_leaves_the_event_id() {
    setup();
    assert_eq!(renamed(), 4);
    assert_eq!(unnamed(), 5);
    let spans = span_names();
    assert!(
        spans
            .iter()
            .any(|(n, t)| n == "charge_card_span" && t == "observed_options"),
        "{spans:?}"
    );
    assert!(!spans.iter().any(|(n, _)| n == "opt.renamed"), "{spans:?}");
    // Without `name`, the span is named after the event.
    assert!(spans.iter().any(|(n, _)| n == "opt.unnamed"), "{spans:?}");

    let l = events("opt.renamed", 1);
    assert_eq!(l[0]["event"], "opt.renamed.completed");
    assert!(!observa::metrics::render().contains("charge_card_span"));
    let s = scrape();
    assert_eq!(
        sample(
            &s,
            "opt_named_total",
            &[("event", "opt.renamed"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
}

// ---------------------------------------------------------------------------------------------
// `target`: the line's `target`, and what level directives match.

#[observed(event = "opt.quiet", target = "quiet_tgt", metric = "opt_quiet")]
fn quiet(fail: bool) -> Result<u8, Boom> {
    if fail { Err(Boom) } else { Ok(1) }
}

#[observed(event = "opt.loud", target = "loud_tgt", level = "debug")]
fn loud() -> u8 {
    2
}

#[observed(event = "opt.default_target", level = "debug")]
fn default_target_debug() -> u8 {
    3
}

#[test]
fn target_is_the_lines_target_and_level_directives_match_it() {
    setup();
    assert_eq!(quiet(false).unwrap(), 1); // INFO under `quiet_tgt=warn`: not written
    assert_eq!(default_target_debug(), 3); // DEBUG under the default `info`: not written
    assert_eq!(loud(), 2); // DEBUG under `loud_tgt=debug`: written
    assert!(quiet(true).is_err()); // ERROR: written
    // The writer keeps the order of one thread's events: once the last line is there, the
    // earlier ones would be too.
    let l = wait_lines(
        |v| {
            v["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("opt.quiet") || e.starts_with("opt.loud"))
                || v["event"] == "opt.default_target.completed"
        },
        |l| l.iter().any(|v| v["event"] == "opt.quiet.failed"),
    );
    let events: Vec<&str> = l.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["opt.loud.completed", "opt.quiet.failed"], "{l:#?}");
    assert_eq!(l[0]["target"], "loud_tgt");
    assert_eq!(l[0]["level"], "debug");
    assert_eq!(l[1]["target"], "quiet_tgt");
    assert_eq!(l[1]["level"], "error");
    // Metrics count every call, whatever the filter.
    let s = scrape();
    assert_eq!(
        sample(
            &s,
            "opt_quiet_total",
            &[("event", "opt.quiet"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    // The span carries the target too.
    assert!(
        span_names()
            .iter()
            .any(|(n, t)| n == "opt.loud" && t == "loud_tgt")
    );
}

// ---------------------------------------------------------------------------------------------
// `started`: a `<event>.started` line before the body runs.

#[observed(event = "opt.started", started, tenant, fields(job))]
fn with_started(tenant: &str, job: u64) -> u64 {
    tracing::info!(event = "opt.started_inside", "in the body");
    job
}

#[observed(event = "opt.started_async", started, bind(job_type = "shopify_sync"))]
async fn with_started_async() -> u8 {
    tokio::task::yield_now().await;
    9
}

#[observed(event = "opt.not_started")]
fn without_started() -> u8 {
    1
}

#[test]
fn started_writes_a_started_line_with_the_calls_context() {
    setup();
    assert_eq!(with_started("t-started", 31), 31);
    assert_eq!(without_started(), 1);
    let l = events("opt.started", 3);
    let names: Vec<&str> = l.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "opt.started.started",
            "opt.started_inside",
            "opt.started.completed"
        ],
        "{l:#?}"
    );
    let (started, done) = (&l[0], &l[2]);
    assert_eq!(started["level"], "info");
    assert_eq!(started["job"], 31);
    assert!(started.get("outcome").is_none(), "{started}");
    assert!(started.get("duration_ms").is_none(), "{started}");
    // The started line belongs to the call: same tenant and correlation id as its completion.
    assert_eq!(started["tenant_id"], "t-started", "{started}");
    assert_eq!(done["tenant_id"], "t-started");
    assert_eq!(started["correlation_id"], done["correlation_id"], "{l:#?}");
    assert_eq!(l[1]["correlation_id"], done["correlation_id"]);
    // Without `started`, no such line.
    let _ = events("opt.not_started", 1);
    assert!(
        !all_lines()
            .iter()
            .any(|v| v["event"] == "opt.not_started.started")
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(with_started_async()), 9);
    let l = events("opt.started_async", 2);
    assert_eq!(l[0]["event"], "opt.started_async.started");
    assert_eq!(l[0]["job_type"], "shopify_sync", "{l:#?}");
    assert_eq!(l[1]["event"], "opt.started_async.completed");
    assert_eq!(l[0]["correlation_id"], l[1]["correlation_id"]);
}

// ---------------------------------------------------------------------------------------------
// `metrics = false`: lines, no series.

#[observed(event = "opt.unmetered", metrics = false)]
fn unmetered(fail: bool) -> Result<(), Boom> {
    if fail { Err(Boom) } else { Ok(()) }
}

#[observed(event = "opt.metered")]
fn metered_sibling() -> u8 {
    1
}

#[test]
fn metrics_false_leaves_no_series_but_writes_lines() {
    setup();
    unmetered(false).unwrap();
    assert!(unmetered(true).is_err());
    metered_sibling();
    let l = events("opt.unmetered", 2);
    assert_eq!(l[0]["event"], "opt.unmetered.completed");
    assert_eq!(l[1]["event"], "opt.unmetered.failed");
    assert_eq!(l[1]["outcome"], "server_error");
    let s = scrape();
    // The sibling in the default family has its series: the family exists.
    assert_eq!(
        sample(
            &s,
            "observa_calls_total",
            &[("event", "opt.metered"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    let leaked: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.labels.values().any(|v| v == "opt.unmetered"))
        .map(|x| x.metric.clone())
        .collect();
    assert!(leaked.is_empty(), "series for opt.unmetered: {leaked:?}");
    assert!(!observa::metrics::render().contains("opt.unmetered"));
}

// ---------------------------------------------------------------------------------------------
// `err(Debug)`: the error's `Debug` form, scrubbed like any error text.

#[derive(Debug, observa::Classify)]
#[allow(dead_code)] // the fields are read through `Debug`, which is the point
enum Upstream {
    #[classify(client)]
    Rejected {
        code: u16,
        url: String,
    },
    Down {
        code: u16,
    },
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream failed")
    }
}

impl std::error::Error for Upstream {}

#[observed(event = "opt.err_debug", err(Debug))]
fn upstream_debug(reject: bool) -> Result<(), Upstream> {
    if reject {
        Err(Upstream::Rejected {
            code: 422,
            url: "https://svc:hunter2-canary@api.example.com/v1/orders?token=tok-canary&page=2"
                .into(),
        })
    } else {
        Err(Upstream::Down { code: 503 })
    }
}

#[observed(event = "opt.err_display", err)]
fn upstream_display() -> Result<(), Upstream> {
    Err(Upstream::Down { code: 504 })
}

#[test]
fn err_debug_records_the_debug_form() {
    setup();
    assert!(upstream_debug(false).is_err());
    assert!(upstream_debug(true).is_err());
    assert!(upstream_display().is_err());
    let l = events("opt.err_debug", 2);
    assert_eq!(l[0]["error"], "Down { code: 503 }");
    assert_eq!(l[0]["outcome"], "server_error");
    assert_eq!(l[0]["error_type"], "Down");
    // The class still comes from `Classify`.
    assert_eq!(l[1]["outcome"], "client_error");
    let e = l[1]["error"].as_str().unwrap();
    assert!(
        e.starts_with("Rejected { code: 422, url: \"https://"),
        "{e}"
    );
    assert!(e.contains("api.example.com/v1/orders"), "{e}");
    assert!(
        !e.contains("hunter2-canary") && !e.contains("tok-canary"),
        "{e}"
    );
    let d = events("opt.err_display", 1);
    assert_eq!(d[0]["error"], "upstream failed");
    assert!(!setup().0.contents().contains("canary"));
}

// ---------------------------------------------------------------------------------------------
// `impl` blocks: an impl-level `event = "x"` names methods `x.<method>`; without it, the method
// name; a method's own `event` wins; `#[observed(skip)]` opts out.

struct Billing {
    rate: u64,
}

#[observed(event = "billing", metric = "opt_billing")]
impl Billing {
    fn charge(&self, amount: u64) -> u64 {
        amount * self.rate
    }

    #[observed(event = "billing.refund_issued")]
    fn refund(&self) -> u64 {
        self.rate
    }

    #[observed(skip)]
    fn helper(&self) -> u64 {
        self.rate + 1
    }

    async fn settle(&self) -> Result<u64, Boom> {
        tokio::task::yield_now().await;
        Err(Boom)
    }
}

struct Ledger;

#[observed]
impl Ledger {
    fn post_entry(&self) -> u8 {
        6
    }
}

#[test]
fn impl_block_methods_are_named_by_the_documented_rule() {
    setup();
    let b = Billing { rate: 3 };
    assert_eq!(b.charge(5), 15);
    assert_eq!(b.refund(), 3);
    assert_eq!(b.helper(), 4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(rt.block_on(b.settle()).is_err());
    assert_eq!(Ledger.post_entry(), 6);
    let l = events("billing.", 3);
    let names: Vec<&str> = l.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "billing.charge.completed",
            "billing.refund_issued.completed",
            "billing.settle.failed"
        ]
    );
    assert_eq!(l[2]["outcome"], "server_error");
    let p = events("post_entry", 1);
    assert_eq!(p[0]["event"], "post_entry.completed");
    assert!(
        !all_lines()
            .iter()
            .any(|v| v["event"].as_str().is_some_and(|e| e.contains("helper")))
    );
    let s = scrape();
    for (event, outcome) in [
        ("billing.charge", "ok"),
        ("billing.refund_issued", "ok"),
        ("billing.settle", "server_error"),
    ] {
        assert_eq!(
            sample(
                &s,
                "opt_billing_total",
                &[("event", event), ("outcome", outcome)]
            ),
            Some(1.0),
            "{event}"
        );
    }
    assert_eq!(
        sample(
            &s,
            "observa_calls_total",
            &[("event", "post_entry"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
}

// ---------------------------------------------------------------------------------------------
// `#[async_trait]`: one call recorded once, timed over the whole future, in either order.

#[async_trait::async_trait]
trait Store {
    async fn load(&self, id: u64) -> Result<u64, Boom>;
}

/// `#[observed]` on the method inside an `#[async_trait]` impl (async_trait expands first).
struct MethodLevel;

#[async_trait::async_trait]
impl Store for MethodLevel {
    #[observed(event = "opt.at_method", metric = "opt_at", buckets = [0.02, 0.5])]
    async fn load(&self, id: u64) -> Result<u64, Boom> {
        tokio::time::sleep(Duration::from_millis(40)).await;
        if id == 0 { Err(Boom) } else { Ok(id) }
    }
}

/// `#[observed]` above `#[async_trait]` on the impl (observed expands first).
struct ObservedFirst;

#[observed(event = "opt.at_first", metric = "opt_at", buckets = [0.02, 0.5])]
#[async_trait::async_trait]
impl Store for ObservedFirst {
    async fn load(&self, id: u64) -> Result<u64, Boom> {
        tokio::time::sleep(Duration::from_millis(40)).await;
        if id == 0 { Err(Boom) } else { Ok(id) }
    }
}

/// `#[async_trait]` above `#[observed]` on the impl (async_trait expands first).
struct TraitFirst;

#[async_trait::async_trait]
#[observed(event = "opt.at_second", metric = "opt_at", buckets = [0.02, 0.5])]
impl Store for TraitFirst {
    async fn load(&self, id: u64) -> Result<u64, Boom> {
        tokio::time::sleep(Duration::from_millis(40)).await;
        if id == 0 { Err(Boom) } else { Ok(id) }
    }
}

#[tokio::test]
async fn async_trait_methods_are_recorded_once_over_the_whole_future() {
    setup();
    let stores: [(&str, Box<dyn Store + Send + Sync>); 3] = [
        ("opt.at_method", Box::new(MethodLevel)),
        ("opt.at_first.load", Box::new(ObservedFirst)),
        ("opt.at_second.load", Box::new(TraitFirst)),
    ];
    for (_, s) in &stores {
        assert_eq!(s.load(7).await.unwrap(), 7);
        assert_eq!(s.load(8).await.unwrap(), 8);
        assert!(s.load(0).await.is_err());
    }
    let s = scrape();
    for (event, _) in &stores {
        let l = wait_lines(
            |v| {
                v["event"]
                    .as_str()
                    .and_then(|e| e.strip_prefix(event))
                    .is_some_and(|rest| rest == ".completed" || rest == ".failed")
            },
            |l| l.len() >= 3,
        );
        // Once per call: three calls, three lines, not six.
        let names: Vec<&str> = l.iter().map(|v| v["event"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                format!("{event}.completed"),
                format!("{event}.completed"),
                format!("{event}.failed")
            ],
            "{l:#?}"
        );
        assert_eq!(l[2]["outcome"], "server_error");
        assert_eq!(l[2]["error"], "boom");
        // Timed over the awaited body (the 40 ms sleep), not the creation of the future.
        for line in &l {
            let ms = line["duration_ms"].as_f64().unwrap();
            assert!(ms >= 40.0, "{event}: {ms} ms");
        }
        assert_eq!(
            sample(&s, "opt_at_total", &[("event", event), ("outcome", "ok")]),
            Some(2.0),
            "{event}"
        );
        assert_eq!(
            sample(
                &s,
                "opt_at_total",
                &[("event", event), ("outcome", "server_error")]
            ),
            Some(1.0),
            "{event}"
        );
        // No call fits under the 20 ms bound.
        let b = buckets(&s, "opt_at_duration_seconds", &[("event", event)]);
        let le = |bound: f64| b.iter().find(|(l, _)| *l == bound).map(|(_, c)| *c);
        assert_eq!(le(0.02), Some(0.0), "{event}: {b:?}");
        assert_eq!(le(f64::INFINITY), Some(3.0), "{event}: {b:?}");
        assert_eq!(
            sample(&s, "opt_at_in_flight", &[("event", event)]),
            Some(0.0)
        );
        let spans = span_names().iter().filter(|(n, _)| n == event).count();
        assert_eq!(spans, 3, "{event}: one span per call");
    }
}
