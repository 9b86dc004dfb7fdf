//! Metrics: the `prometheus` crate's registry, owned by observa.
//!
//! Families are registered on first use and shared by name. Every labelled family has a
//! cardinality cap (default 1,000 label sets, `OBSERVA_METRICS_MAX_SERIES`): past it, new label
//! sets are counted in one overflow series whose label values are all `__overflow__`, and
//! `observa_metrics_overflow_total{family}` counts the redirected lookups. Handles for
//! `#[observed]` call sites are resolved once per site and cached, so the hot path is a few
//! atomic adds.
//!
//! Nothing here panics: a family name already registered with another type or other labels is
//! reported in `observa_internal_errors_total{kind="metrics"}` and the call site carries on
//! without metrics.

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

/// Label value of the overflow series.
pub const OVERFLOW: &str = "__overflow__";

/// Default buckets of duration histograms, in seconds.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The cardinality cap when none is configured.
pub const DEFAULT_MAX_SERIES: usize = 1000;

static MAX_SERIES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_SERIES);
/// Whether the cap was configured (not left at its default): labels with per-tenant values
/// are accepted only then.
static MAX_SERIES_SET: AtomicBool = AtomicBool::new(false);

struct State {
    registry: Registry,
    families: Mutex<HashMap<String, Registered>>,
    overflow: IntCounterVec,
    internal_errors: IntCounterVec,
}

/// A labelled family as registered: its `prometheus` vector (one of the [`Metric`] types), its
/// label names, a histogram's bucket bounds and the label sets seen (for the cap).
struct Registered {
    vec: Box<dyn Any + Send + Sync>,
    labels: Vec<String>,
    /// A histogram's bucket bounds.
    buckets: Option<Vec<f64>>,
    seen: HashSet<Vec<String>>,
}

static STATE: LazyLock<State> = LazyLock::new(|| {
    let registry = Registry::new();
    let overflow = IntCounterVec::new(
        Opts::new(
            "observa_metrics_overflow_total",
            "Label sets redirected to the overflow series by the cardinality cap",
        ),
        &["family"],
    )
    .expect("static metric definition");
    let internal_errors = IntCounterVec::new(
        Opts::new(
            "observa_internal_errors_total",
            "Errors inside observa itself (sinks, metrics, config), by kind",
        ),
        &["kind"],
    )
    .expect("static metric definition");
    let _ = registry.register(Box::new(overflow.clone()));
    let _ = registry.register(Box::new(internal_errors.clone()));
    State {
        registry,
        families: Mutex::new(HashMap::new()),
        overflow,
        internal_errors,
    }
});

/// The registry observa owns. Register your own collectors here to have them in [`render`].
pub fn registry() -> &'static Registry {
    &STATE.registry
}

/// Sets the cardinality cap (label sets per family), as `OBSERVA_METRICS_MAX_SERIES` or
/// `Config::metrics_max_series` do at [`crate::init`]. A cap set this way counts as configured
/// (see [`configured_max_series`]).
pub fn set_max_series(n: usize) {
    MAX_SERIES.store(n.max(1), Ordering::Relaxed);
    MAX_SERIES_SET.store(true, Ordering::Relaxed);
}

/// `init` with the cap left at its default: the value, not the "configured" mark.
pub(crate) fn set_default_max_series(n: usize) {
    MAX_SERIES.store(n.max(1), Ordering::Relaxed);
}

/// The cardinality cap when one was configured (`OBSERVA_METRICS_MAX_SERIES`,
/// `Config::with_metrics_max_series`, [`set_max_series`]); `None` while it is the default.
/// Metric labels whose values are per tenant are accepted only with a configured cap.
pub fn configured_max_series() -> Option<usize> {
    MAX_SERIES_SET
        .load(Ordering::Relaxed)
        .then(|| MAX_SERIES.load(Ordering::Relaxed))
}

/// Counts an internal error of `kind` (`log`, `metrics`, `audit`, ...).
pub fn internal_error(kind: &str) {
    STATE.internal_errors.with_label_values(&[kind]).inc();
}

/// A function that brings counters kept elsewhere up to date before each [`render`] (the log
/// pipeline's drop and line counters): registered with `inventory::submit!` by the module that
/// owns the counts, so this module depends on none of them.
pub(crate) struct BeforeRender(pub(crate) fn());

inventory::collect!(BeforeRender);

/// The Prometheus text exposition of every metric in the registry.
pub fn render() -> String {
    for hook in inventory::iter::<BeforeRender> {
        (hook.0)();
    }
    let mut buf = Vec::new();
    let families = STATE.registry.gather();
    if TextEncoder::new().encode(&families, &mut buf).is_err() {
        internal_error("metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Errors of metric registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsError(String);

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MetricsError {}

/// How a histogram's buckets must compare with those of a family registered earlier.
#[derive(Clone, Copy)]
enum Buckets<'a> {
    /// Not a histogram, or the earlier family's buckets are kept.
    Any(Option<&'a [f64]>),
    /// The earlier family must have exactly these buckets.
    Exact(&'a [f64]),
}

fn family_of<M: Metric>(
    name: &str,
    labels: &[&str],
    buckets: Buckets<'_>,
    make: impl FnOnce() -> prometheus::Result<M>,
) -> Result<Family<M>, MetricsError> {
    let mut fams = STATE
        .families
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(f) = fams.get(name) {
        let vec = f.vec.downcast_ref::<M>();
        let Some(vec) = vec.filter(|_| f.labels == labels) else {
            internal_error("metrics");
            return Err(MetricsError(format!(
                "metric family `{name}` is already registered with another type or labels ({:?})",
                f.labels
            )));
        };
        if let Buckets::Exact(b) = buckets
            && f.buckets.as_deref() != Some(b)
        {
            internal_error("metrics");
            return Err(MetricsError(format!(
                "metric family `{name}` is already registered with other buckets ({:?})",
                f.buckets.as_deref().unwrap_or_default()
            )));
        }
        return Ok(Family {
            name: name.to_owned(),
            vec: vec.clone(),
        });
    }
    let vec = make().map_err(|e| MetricsError(format!("metric family `{name}`: {e}")))?;
    if let Err(e) = STATE.registry.register(Box::new(Folding(vec.clone()))) {
        internal_error("metrics");
        return Err(MetricsError(format!("metric family `{name}`: {e}")));
    }
    fams.insert(
        name.to_owned(),
        Registered {
            vec: Box::new(vec.clone()),
            labels: labels.iter().map(|s| (*s).to_owned()).collect(),
            buckets: match buckets {
                Buckets::Any(b) => b.map(<[f64]>::to_vec),
                Buckets::Exact(b) => Some(b.to_vec()),
            },
            seen: HashSet::new(),
        },
    );
    Ok(Family {
        name: name.to_owned(),
        vec,
    })
}

/// Applies the cardinality cap: returns the label values to use (the given ones, or the
/// overflow set).
fn capped<'a>(name: &str, values: &'a [&'a str]) -> Vec<String> {
    let mut fams = STATE
        .families
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(f) = fams.get_mut(name) else {
        return values.iter().map(|s| (*s).to_owned()).collect();
    };
    let key: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
    if f.seen.contains(&key) {
        return key;
    }
    if f.seen.len() < MAX_SERIES.load(Ordering::Relaxed) {
        f.seen.insert(key.clone());
        return key;
    }
    drop(fams);
    STATE.overflow.with_label_values(&[name]).inc();
    vec![OVERFLOW.to_owned(); values.len()]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The `prometheus` vector types a [`Family`] holds: [`IntCounterVec`], [`IntGaugeVec`] and
/// [`HistogramVec`]. Sealed.
pub trait Metric: sealed::Sealed + Collector + Clone + Send + Sync + 'static {
    /// The handle of one series.
    type Series;

    /// The series for the label `values` (already capped).
    #[doc(hidden)]
    fn series(&self, values: &[&str]) -> Self::Series;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for prometheus::IntCounterVec {}
    impl Sealed for prometheus::IntGaugeVec {}
    impl Sealed for prometheus::HistogramVec {}
}

impl Metric for IntCounterVec {
    type Series = IntCounter;

    fn series(&self, values: &[&str]) -> IntCounter {
        self.with_label_values(values)
    }
}

impl Metric for IntGaugeVec {
    type Series = IntGauge;

    fn series(&self, values: &[&str]) -> IntGauge {
        self.with_label_values(values)
    }
}

impl Metric for HistogramVec {
    type Series = prometheus::Histogram;

    fn series(&self, values: &[&str]) -> prometheus::Histogram {
        self.with_label_values(values)
    }
}

/// A metric family with labels, registered in observa's registry and shared by name, behind
/// the cardinality cap.
#[derive(Clone, Debug)]
pub struct Family<M: Metric> {
    name: String,
    vec: M,
}

/// A counter family with labels, behind the cardinality cap.
pub type CounterFamily = Family<IntCounterVec>;

/// A gauge family with labels, behind the cardinality cap.
pub type GaugeFamily = Family<IntGaugeVec>;

/// A histogram family with labels, behind the cardinality cap.
pub type HistogramFamily = Family<HistogramVec>;

impl<M: Metric> Family<M> {
    /// The series for `values` (or the overflow series past the cap). Resolve once and keep it.
    pub fn get(&self, values: &[&str]) -> M::Series {
        let v = capped(&self.name, values);
        self.vec.series(&as_strs(&v))
    }

    /// Creates the series for `values` (or the overflow series past the cap) and returns the
    /// label values it has, for counts folded in at scrape time ([`add_fold`]).
    pub(crate) fn resolve(&self, values: &[&str]) -> Vec<String> {
        let v = capped(&self.name, values);
        let _ = self.vec.series(&as_strs(&v));
        v
    }

    /// The family's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Family<HistogramVec> {
    /// The bucket bounds the family was registered with (those of the first registration).
    pub(crate) fn bounds(&self) -> Vec<f64> {
        let fams = STATE
            .families
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        fams.get(&self.name)
            .and_then(|f| f.buckets.clone())
            .unwrap_or_default()
    }
}

/// Adds counts kept outside the `prometheus` crate to a family's series at scrape time.
pub(crate) type Fold = Box<dyn Fn(&mut prometheus::proto::MetricFamily) + Send + Sync>;

static FOLDS: LazyLock<Mutex<HashMap<String, Vec<Fold>>>> = LazyLock::new(Default::default);

/// Registers `f` to run on the family `family` every time it is collected (whoever gathers the
/// registry: [`render`] or a caller of [`registry`]).
pub(crate) fn add_fold(family: &str, f: Fold) {
    FOLDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(family.to_owned())
        .or_default()
        .push(f);
}

/// The series of `mf` with exactly these label names and values.
pub(crate) fn series_mut<'a>(
    mf: &'a mut prometheus::proto::MetricFamily,
    names: &[String],
    values: &[String],
) -> Option<&'a mut prometheus::proto::Metric> {
    mf.mut_metric().iter_mut().find(|m| {
        let l = m.get_label();
        l.len() == names.len()
            && names
                .iter()
                .zip(values)
                .all(|(n, v)| l.iter().any(|p| p.name() == n && p.value() == v))
    })
}

/// A registered family: the `prometheus` vector, plus what [`add_fold`] adds when collected.
struct Folding<M>(M);

impl<M: Collector> Collector for Folding<M> {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut mfs = self.0.collect();
        let folds = FOLDS.lock().unwrap_or_else(|p| p.into_inner());
        for mf in &mut mfs {
            if let Some(fs) = folds.get(mf.name()) {
                for f in fs {
                    f(mf);
                }
            }
        }
        mfs
    }
}

impl Family<IntCounterVec> {
    /// Registers (or finds) the counter family `name` with `labels`.
    pub fn new(name: &str, help: &str, labels: &[&str]) -> Result<CounterFamily, MetricsError> {
        family_of(name, labels, Buckets::Any(None), || {
            IntCounterVec::new(Opts::new(name, help), labels)
        })
    }
}

impl Family<IntGaugeVec> {
    /// Registers (or finds) the gauge family `name` with `labels`.
    pub fn new(name: &str, help: &str, labels: &[&str]) -> Result<GaugeFamily, MetricsError> {
        family_of(name, labels, Buckets::Any(None), || {
            IntGaugeVec::new(Opts::new(name, help), labels)
        })
    }
}

impl Family<HistogramVec> {
    /// Registers (or finds) the histogram family `name` with `labels` and `buckets` (seconds).
    /// A family registered earlier keeps its own buckets.
    pub fn new(
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramFamily, MetricsError> {
        HistogramFamily::make(name, help, labels, buckets, Buckets::Any(Some(buckets)))
    }

    /// Like [`HistogramFamily::new`], but a family registered earlier with other buckets is
    /// an error rather than kept.
    pub fn new_exact(
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramFamily, MetricsError> {
        HistogramFamily::make(name, help, labels, buckets, Buckets::Exact(buckets))
    }

    fn make(
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
        rule: Buckets<'_>,
    ) -> Result<HistogramFamily, MetricsError> {
        family_of(name, labels, rule, || {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
        })
    }
}

/// A gauge family whose series are computed at scrape time (one label), for values that are
/// cheaper to derive than to maintain: `#[observed]`'s in-flight gauge is "calls started minus
/// calls finished", so a call pays one atomic add instead of an increment and a decrement.
pub(crate) struct ComputedGauge {
    desc: prometheus::core::Desc,
    label: String,
    series: Mutex<Vec<(String, GaugeSource)>>,
}

/// Computes one series' value at scrape time.
pub(crate) type GaugeSource = Box<dyn Fn() -> i64 + Send + Sync>;

impl ComputedGauge {
    /// Adds a source for the series `label = value` (sources of one value are summed).
    pub(crate) fn add(&self, value: &str, f: GaugeSource) {
        self.series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((value.to_owned(), f));
    }
}

impl Collector for ComputedGauge {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_value: std::collections::BTreeMap<&str, i64> = Default::default();
        for (v, f) in series.iter() {
            *by_value.entry(v).or_default() += f();
        }
        let metrics = by_value
            .into_iter()
            .map(|(v, n)| {
                let mut g = Gauge::default();
                g.set_value(n.max(0) as f64);
                let mut m = Metric::from_gauge(g);
                let mut l = LabelPair::default();
                l.set_name(self.label.clone());
                l.set_value(v.to_owned());
                m.set_label(vec![l]);
                m
            })
            .collect();
        let mut mf = MetricFamily::default();
        mf.set_name(self.desc.fq_name.clone());
        mf.set_help(self.desc.help.clone());
        mf.set_field_type(MetricType::GAUGE);
        mf.set_metric(metrics);
        vec![mf]
    }
}

/// The computed gauge family `name` with one `label`, registered on first use.
pub(crate) fn computed_gauge(
    name: &str,
    help: &str,
    label: &str,
) -> Result<std::sync::Arc<ComputedGauge>, MetricsError> {
    static GAUGES: LazyLock<Mutex<HashMap<String, std::sync::Arc<ComputedGauge>>>> =
        LazyLock::new(Default::default);
    let mut map = GAUGES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = map.get(name) {
        return Ok(g.clone());
    }
    let desc = prometheus::core::Desc::new(
        name.to_owned(),
        help.to_owned(),
        vec![label.to_owned()],
        HashMap::new(),
    )
    .map_err(|e| MetricsError(format!("metric family `{name}`: {e}")))?;
    let g = std::sync::Arc::new(ComputedGauge {
        desc,
        label: label.to_owned(),
        series: Mutex::new(Vec::new()),
    });
    if let Err(e) = STATE.registry.register(Box::new(ArcCollector(g.clone()))) {
        internal_error("metrics");
        return Err(MetricsError(format!("metric family `{name}`: {e}")));
    }
    map.insert(name.to_owned(), g.clone());
    Ok(g)
}

struct ArcCollector(std::sync::Arc<ComputedGauge>);

impl Collector for ArcCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.collect()
    }
}

/// A plain counter (no labels) registered in observa's registry.
pub fn counter(name: &str, help: &str) -> Result<IntCounter, MetricsError> {
    Ok(CounterFamily::new(name, help, &[])?.get(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_redirects_to_overflow() {
        set_max_series(3);
        let fam = CounterFamily::new("test_cap_total", "t", &["k"]).unwrap();
        for i in 0..10 {
            fam.get(&[&format!("v{i}")]).inc();
        }
        let text = render();
        assert!(text.contains("test_cap_total{k=\"v2\"} 1"), "{text}");
        assert!(!text.contains("test_cap_total{k=\"v3\"}"), "{text}");
        assert!(
            text.contains("test_cap_total{k=\"__overflow__\"} 7"),
            "{text}"
        );
        assert!(text.contains("observa_metrics_overflow_total{family=\"test_cap_total\"} 7"));
        set_max_series(1000);
    }

    #[test]
    fn one_map_for_all_three_kinds() {
        let h = HistogramFamily::new("test_one_map_seconds", "t", &["e"], &[0.25, 4.0]).unwrap();
        h.get(&["a"]).observe(1.0);
        // Found by name whatever the kind asked for: only the registered kind is returned.
        assert!(CounterFamily::new("test_one_map_seconds", "t", &["e"]).is_err());
        assert!(GaugeFamily::new("test_one_map_seconds", "t", &["e"]).is_err());
        let again = HistogramFamily::new("test_one_map_seconds", "t", &["e"], &[9.0]).unwrap();
        again.get(&["a"]).observe(2.0);
        assert!(
            HistogramFamily::new_exact("test_one_map_seconds", "t", &["e"], &[9.0]).is_err(),
            "new_exact checks the buckets of the family found"
        );
        let text = render();
        assert!(
            text.contains("test_one_map_seconds_bucket{e=\"a\",le=\"4\"} 2"),
            "{text}"
        );
        assert!(
            !text.contains("test_one_map_seconds_bucket{e=\"a\",le=\"9\"}"),
            "{text}"
        );

        let g = GaugeFamily::new("test_one_map_gauge", "t", &["k"]).unwrap();
        g.get(&["x"]).set(3);
        let same = GaugeFamily::new("test_one_map_gauge", "t", &["k"]).unwrap();
        same.get(&["x"]).add(2);
        assert!(render().contains("test_one_map_gauge{k=\"x\"} 5"));
    }

    #[test]
    fn conflicting_family_is_an_error_not_a_panic() {
        CounterFamily::new("test_conflict", "t", &["a"]).unwrap();
        assert!(GaugeFamily::new("test_conflict", "t", &["a"]).is_err());
        assert!(CounterFamily::new("test_conflict", "t", &["b"]).is_err());
    }
}
