//! The request layer's metrics: their names, label names and buckets ([`HttpMetrics`]).
//!
//! The default shape is `http_requests_total{method,route,status}`,
//! `http_request_duration_seconds{method,route}` (default buckets plus every route objective's
//! latency threshold) and `http_requests_in_flight`. A team that already alerts on other names
//! keeps them:
//!
//! ```no_run
//! # fn build() -> Result<(), observa::http::HttpMetricsError> {
//! use observa::http::{HttpMetrics, layer};
//!
//! // Seed 001: api_requests_total{method,path,status_code} and
//! // api_request_duration_seconds{method,path,status_code} with its own buckets.
//! let layer = layer().try_metrics(
//!     HttpMetrics::new()
//!         .requests_total("api_requests_total")
//!         .duration_histogram("api_request_duration_seconds")
//!         .route_label("path")
//!         .status_label("status_code")
//!         .status_on_duration(true)
//!         .buckets([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
//! )?;
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! [`RequestLayer::try_metrics`](super::RequestLayer::try_metrics) checks the shape and
//! registers the families at once, so every mistake is an [`HttpMetricsError`] when the layer is
//! built, never a panic and never a surprise at the first request:
//! - a metric or label name that Prometheus refuses, a reserved label (`le`, `quantile`,
//!   `__*`), or a name used twice;
//! - buckets that are empty, not finite or not strictly increasing;
//! - a family of the same name already registered with another type, other labels or (for
//!   the histogram) other buckets;
//! - a tenant label ([`HttpMetrics::tenant_label`]) while the cardinality cap is not
//!   configured.
//!
//! [`RequestLayer::metrics`](super::RequestLayer::metrics) is the same for builder chains: a
//! refused shape is written as one ERROR line (`observa.metrics_error`) and counted in
//! `observa_internal_errors_total{kind="metrics"}`, and the layer keeps the metrics it had.
//!
//! Families are process-wide: two layers with the same shape share their series. Route
//! objectives ([`RequestLayer::slo`](super::RequestLayer::slo)) and the [`crate::ops`] outputs
//! are computed on the default names; with explicit buckets, a latency threshold must be one of
//! them.

use crate::metrics::{CounterFamily, DEFAULT_BUCKETS, GaugeFamily, HistogramFamily, MetricsError};
use prometheus::IntGauge;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Longest tenant id kept as a label value.
pub const MAX_TENANT_LABEL: usize = 128;

const REQUESTS_HELP: &str = "HTTP requests by method, route template and status";
const DURATION_HELP: &str = "HTTP request duration by method and route template";
const IN_FLIGHT_HELP: &str = "HTTP requests being served";

/// The shape of the request layer's metrics: names, label names, buckets. Start from
/// [`HttpMetrics::new`] (today's defaults) and change what your dashboards need; hand it to
/// [`RequestLayer::try_metrics`](super::RequestLayer::try_metrics). See the [module
/// docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpMetrics {
    requests: String,
    duration: String,
    in_flight: Option<String>,
    method_label: String,
    route_label: String,
    status_label: String,
    buckets: Option<Vec<f64>>,
    status_on_duration: bool,
    tenant_label: Option<String>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

impl HttpMetrics {
    /// The default shape: `http_requests_total{method,route,status}`,
    /// `http_request_duration_seconds{method,route}` with [`DEFAULT_BUCKETS`] (plus route
    /// objectives' thresholds), `http_requests_in_flight`.
    pub fn new() -> HttpMetrics {
        HttpMetrics {
            requests: crate::slo::HTTP_REQUESTS.to_owned(),
            duration: crate::slo::HTTP_DURATION.to_owned(),
            in_flight: Some(crate::slo::HTTP_IN_FLIGHT.to_owned()),
            method_label: "method".to_owned(),
            route_label: "route".to_owned(),
            status_label: "status".to_owned(),
            buckets: None,
            status_on_duration: false,
            tenant_label: None,
        }
    }

    /// The name of the request counter (default `http_requests_total`), written as is (no
    /// `_total` is added).
    pub fn requests_total(mut self, name: impl Into<String>) -> HttpMetrics {
        self.requests = name.into();
        self
    }

    /// The name of the duration histogram (default `http_request_duration_seconds`).
    pub fn duration_histogram(mut self, name: impl Into<String>) -> HttpMetrics {
        self.duration = name.into();
        self
    }

    /// The name of the in-flight gauge (default `http_requests_in_flight`).
    pub fn in_flight_gauge(mut self, name: impl Into<String>) -> HttpMetrics {
        self.in_flight = Some(name.into());
        self
    }

    /// No in-flight gauge.
    pub fn without_in_flight_gauge(mut self) -> HttpMetrics {
        self.in_flight = None;
        self
    }

    /// The label of the method (default `method`).
    pub fn method_label(mut self, name: impl Into<String>) -> HttpMetrics {
        self.method_label = name.into();
        self
    }

    /// The label of the route template (default `route`; seed 001 says `path`). Its value is
    /// always the template (or `unmatched`, or the gRPC method), never the rendered path.
    pub fn route_label(mut self, name: impl Into<String>) -> HttpMetrics {
        self.route_label = name.into();
        self
    }

    /// The label of the status (default `status`; seed 001 says `status_code`): the HTTP
    /// status, or the `grpc-status` code of a gRPC call.
    pub fn status_label(mut self, name: impl Into<String>) -> HttpMetrics {
        self.status_label = name.into();
        self
    }

    /// The duration histogram's bucket bounds in seconds, used exactly (route objectives'
    /// thresholds are not added: include them yourself). Finite, strictly increasing, at least
    /// one; `+Inf` is implied.
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> HttpMetrics {
        self.buckets = Some(bounds.into_iter().collect());
        self
    }

    /// Whether the duration histogram carries the status label too (default `false`: one
    /// histogram per method and route).
    pub fn status_on_duration(mut self, on: bool) -> HttpMetrics {
        self.status_on_duration = on;
        self
    }

    /// Adds a label with the request's tenant id (as bound in its context when the handler
    /// finishes, empty when none) to the request counter only. One series per tenant: refused
    /// unless the cardinality cap is configured (`OBSERVA_METRICS_MAX_SERIES`,
    /// `Config::with_metrics_max_series` or [`crate::metrics::set_max_series`], before the layer
    /// is built); past the cap, new label sets go to the overflow series.
    pub fn tenant_label(mut self, name: impl Into<String>) -> HttpMetrics {
        self.tenant_label = Some(name.into());
        self
    }

    /// Checks names, buckets and the tenant rule (not registration; see
    /// [`RequestLayer::try_metrics`](super::RequestLayer::try_metrics)).
    pub fn check(&self) -> Result<(), HttpMetricsError> {
        let metrics = [
            Some(&self.requests),
            Some(&self.duration),
            self.in_flight.as_ref(),
        ];
        for n in metrics.iter().flatten() {
            if !valid_metric_name(n) {
                return Err(HttpMetricsError::InvalidMetricName((*n).clone()));
            }
        }
        let labels = [
            Some(&self.method_label),
            Some(&self.route_label),
            Some(&self.status_label),
            self.tenant_label.as_ref(),
        ];
        for n in labels.iter().flatten() {
            if !valid_label_name(n) {
                return Err(HttpMetricsError::InvalidLabelName((*n).clone()));
            }
        }
        for set in [&metrics[..], &labels[..]] {
            let names: Vec<&String> = set.iter().flatten().copied().collect();
            for (i, n) in names.iter().enumerate() {
                if names[..i].contains(n) {
                    return Err(HttpMetricsError::DuplicateName((*n).clone()));
                }
            }
        }
        if let Some(b) = &self.buckets {
            if b.is_empty() {
                return Err(HttpMetricsError::InvalidBuckets("no bounds".to_owned()));
            }
            if let Some(x) = b.iter().find(|x| !x.is_finite()) {
                return Err(HttpMetricsError::InvalidBuckets(format!(
                    "`{x}` is not finite"
                )));
            }
            if let Some(w) = b.windows(2).find(|w| w[0] >= w[1]) {
                return Err(HttpMetricsError::InvalidBuckets(format!(
                    "`{}` follows `{}`",
                    w[1], w[0]
                )));
            }
        }
        if let Some(t) = &self.tenant_label
            && crate::metrics::configured_max_series().is_none()
        {
            return Err(HttpMetricsError::TenantWithoutCap(t.clone()));
        }
        Ok(())
    }

    /// Checks the shape and registers (or finds) its families.
    pub(crate) fn register(&self) -> Result<Families, HttpMetricsError> {
        self.check()?;
        let mut counter: Vec<&str> =
            vec![&self.method_label, &self.route_label, &self.status_label];
        if let Some(t) = &self.tenant_label {
            counter.push(t);
        }
        let mut hist: Vec<&str> = vec![&self.method_label, &self.route_label];
        if self.status_on_duration {
            hist.push(&self.status_label);
        }
        let requests = CounterFamily::new(&self.requests, REQUESTS_HELP, &counter)?;
        let duration = match &self.buckets {
            Some(b) => HistogramFamily::new_exact(&self.duration, DURATION_HELP, &hist, b)?,
            None => HistogramFamily::new(
                &self.duration,
                DURATION_HELP,
                &hist,
                &crate::slo::http_buckets(DEFAULT_BUCKETS),
            )?,
        };
        let in_flight = match &self.in_flight {
            Some(n) => Some(GaugeFamily::new(n, IN_FLIGHT_HELP, &[])?.get(&[])),
            None => None,
        };
        Ok(Families {
            requests,
            duration,
            in_flight,
            status_on_duration: self.status_on_duration,
            tenant: self.tenant_label.is_some(),
        })
    }
}

fn valid_metric_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

fn valid_label_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !n.starts_with("__")
        && n != "le"
        && n != "quantile"
}

/// A refused [`HttpMetrics`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpMetricsError {
    /// A metric name Prometheus refuses.
    InvalidMetricName(String),
    /// A label name Prometheus refuses or reserves.
    InvalidLabelName(String),
    /// Two metrics, or two labels, with one name.
    DuplicateName(String),
    /// Buckets that are empty, not finite or not strictly increasing (the reason).
    InvalidBuckets(String),
    /// A tenant label (its name) while the cardinality cap is not configured.
    TenantWithoutCap(String),
    /// A family of that name is registered with another type, labels or buckets.
    Registration(MetricsError),
}

impl fmt::Display for HttpMetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpMetricsError::InvalidMetricName(n) => write!(
                f,
                "invalid metric name `{}`; use `[a-zA-Z_:][a-zA-Z0-9_:]*`",
                n.escape_debug()
            ),
            HttpMetricsError::InvalidLabelName(n) => write!(
                f,
                "invalid label name `{}`; use `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`, not `le` or `quantile`",
                n.escape_debug()
            ),
            HttpMetricsError::DuplicateName(n) => write!(
                f,
                "`{n}` is used twice; give each metric and each label its own name"
            ),
            HttpMetricsError::InvalidBuckets(why) => write!(
                f,
                "invalid buckets: {why}; give at least one finite bound, in increasing order"
            ),
            HttpMetricsError::TenantWithoutCap(n) => write!(
                f,
                "label `{n}` makes one series per tenant; configure the cardinality cap first (`OBSERVA_METRICS_MAX_SERIES` or `Config::with_metrics_max_series`, before the layer is built) or leave the label out"
            ),
            HttpMetricsError::Registration(e) => {
                write!(f, "{e}; choose another name or the same shape")
            }
        }
    }
}

impl std::error::Error for HttpMetricsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpMetricsError::Registration(e) => Some(e),
            _ => None,
        }
    }
}

impl From<MetricsError> for HttpMetricsError {
    fn from(e: MetricsError) -> Self {
        HttpMetricsError::Registration(e)
    }
}

/// The registered families of one shape.
pub(crate) struct Families {
    requests: CounterFamily,
    duration: HistogramFamily,
    in_flight: Option<IntGauge>,
    status_on_duration: bool,
    tenant: bool,
}

impl fmt::Debug for Families {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Families")
            .field("requests", &self.requests)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl Families {
    /// The default shape's families, registered on first use (`None` if a family of a
    /// default name was taken with another shape: the layer then records no metrics).
    pub(crate) fn default_shape() -> Option<Arc<Families>> {
        static M: OnceLock<Option<Arc<Families>>> = OnceLock::new();
        M.get_or_init(|| HttpMetrics::new().register().ok().map(Arc::new))
            .clone()
    }

    /// A request starts.
    pub(crate) fn enter(&self) {
        if let Some(g) = &self.in_flight {
            g.inc();
        }
    }

    /// A request ends (exactly once per [`Families::enter`]).
    pub(crate) fn leave(&self) {
        if let Some(g) = &self.in_flight {
            g.dec();
        }
    }

    /// Records one finished request.
    pub(crate) fn observe(
        &self,
        method: &str,
        route: &str,
        status: &str,
        tenant: Option<&str>,
        secs: f64,
    ) {
        let tenant = super::bounded(tenant.unwrap_or(""), MAX_TENANT_LABEL);
        let c: &[&str] = if self.tenant {
            &[method, route, status, tenant]
        } else {
            &[method, route, status]
        };
        self.requests.get(c).inc();
        let h: &[&str] = if self.status_on_duration {
            &[method, route, status]
        } else {
            &[method, route]
        };
        self.duration.get(h).observe(secs);
    }
}
