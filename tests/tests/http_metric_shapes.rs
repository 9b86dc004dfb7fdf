//! The request layer's metric shapes ([`observa::http::HttpMetrics`]): names, label names,
//! buckets and the status on the histogram as settings, so seed 001's
//! `api_requests_total` / `api_request_duration_seconds` and seed 002's
//! `portal_request_duration_seconds{route,method,status}` come out exactly. Every test serves a
//! real axum app on 127.0.0.1 (port 0), calls it with reqwest and parses the exposition back
//! with `prometheus-parse`. The tenant label needs a configured cardinality cap: this process
//! has none (refused), a child process of this binary runs with `OBSERVA_METRICS_MAX_SERIES`.
//! Routes here have no `{param}`: `prometheus-parse` cuts a label set at the first `}`.

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use observa::http::{HttpMetrics, HttpMetricsError};
use std::collections::BTreeSet;
use std::net::SocketAddr;

mod log_support;

/// Seed 001's `api_request_duration_seconds` buckets.
const SEED001_BUCKETS: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Seed 002's `portal_request_duration_seconds` buckets.
const SEED002_BUCKETS: [f64; 9] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Set in the child process that runs with a configured cap.
const CHILD: &str = "OBSERVA_TEST_HTTP_SHAPES_CHILD";

fn setup() {
    // No cardinality cap configured: `Config::new` reads no environment.
    log_support::capture("http-metric-shapes", "info");
}

async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(l, app).await.expect("serve");
    });
    addr
}

#[derive(serde::Deserialize)]
struct Code {
    code: u16,
}

/// The status a handler answers, from the query: `?code=409`.
async fn answer(Query(q): Query<Code>) -> (StatusCode, &'static str) {
    (StatusCode::from_u16(q.code).unwrap_or(StatusCode::OK), "ok")
}

async fn get_status(url: String) -> u16 {
    reqwest::get(url).await.expect("request").status().as_u16()
}

fn scrape() -> prometheus_parse::Scrape {
    let text = observa::metrics::render();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses")
}

/// The label names of every sample of `metric` (histogram samples without `le`).
fn label_sets(s: &prometheus_parse::Scrape, metric: &str) -> BTreeSet<Vec<String>> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .map(|x| {
            let mut k: Vec<String> = x.labels.keys().cloned().collect();
            k.sort();
            k
        })
        .collect()
}

fn names(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// The sample of `metric` with exactly `labels`.
fn sample<'a>(
    s: &'a prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<&'a prometheus_parse::Value> {
    s.samples.iter().find_map(|x| {
        (x.metric == metric
            && x.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .then_some(&x.value)
    })
}

fn counter(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    match sample(s, metric, labels)? {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => Some(*v),
        _ => None,
    }
}

/// The histogram of `metric` with exactly `labels`: its finite `le` bounds and its count.
fn histogram(
    s: &prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<(Vec<f64>, f64)> {
    match sample(s, metric, labels)? {
        prometheus_parse::Value::Histogram(b) => {
            let mut les: Vec<f64> = b
                .iter()
                .map(|c| c.less_than)
                .filter(|l| l.is_finite())
                .collect();
            les.sort_by(f64::total_cmp);
            let count = b.iter().find(|c| c.less_than == f64::INFINITY)?.count;
            Some((les, count))
        }
        _ => None,
    }
}

fn seed001() -> HttpMetrics {
    HttpMetrics::new()
        .requests_total("api_requests_total")
        .duration_histogram("api_request_duration_seconds")
        .without_in_flight_gauge()
        .route_label("path")
        .status_label("status_code")
        .status_on_duration(true)
        .buckets(SEED001_BUCKETS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_api_requests_and_duration_come_out_exactly() {
    setup();
    let layer = observa::http::layer()
        .try_metrics(seed001())
        .expect("seed 001 shape");
    let app = Router::new()
        .route(
            "/api/connections",
            get(answer).post(|| async { (StatusCode::CREATED, "made") }),
        )
        .layer(layer);
    let addr = serve(app).await;
    for _ in 0..3 {
        assert_eq!(
            get_status(format!("http://{addr}/api/connections?code=200")).await,
            200
        );
    }
    assert_eq!(
        get_status(format!("http://{addr}/api/connections?code=409")).await,
        409
    );
    let created = reqwest::Client::new()
        .post(format!("http://{addr}/api/connections"))
        .send()
        .await
        .expect("post");
    assert_eq!(created.status().as_u16(), 201);

    let s = scrape();
    assert_eq!(
        label_sets(&s, "api_requests_total"),
        BTreeSet::from([names(&["method", "path", "status_code"])])
    );
    let route = "/api/connections";
    let c = |m, p, st| {
        counter(
            &s,
            "api_requests_total",
            &[("method", m), ("path", p), ("status_code", st)],
        )
    };
    assert_eq!(c("GET", route, "200"), Some(3.0));
    assert_eq!(c("GET", route, "409"), Some(1.0));
    assert_eq!(c("POST", "/api/connections", "201"), Some(1.0));

    assert_eq!(
        label_sets(&s, "api_request_duration_seconds"),
        BTreeSet::from([names(&["method", "path", "status_code"])])
    );
    let h = |m, p, st| {
        histogram(
            &s,
            "api_request_duration_seconds",
            &[("method", m), ("path", p), ("status_code", st)],
        )
    };
    let (les, count) = h("GET", route, "200").expect("GET 200 histogram");
    assert_eq!(les, SEED001_BUCKETS.to_vec(), "the seed's buckets, exactly");
    assert_eq!(count, 3.0);
    assert_eq!(h("GET", route, "409").map(|x| x.1), Some(1.0));
    assert_eq!(h("POST", "/api/connections", "201").map(|x| x.1), Some(1.0));
    // The default names and the in-flight gauge are not produced by this layer.
    assert!(
        !s.samples
            .iter()
            .any(|x| x.metric.starts_with("http_request") && x.labels.get("path").is_some())
    );
    assert!(
        !s.samples
            .iter()
            .any(|x| x.metric == "api_requests_in_flight")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_portal_request_duration_by_route_method_status() {
    setup();
    let layer = observa::http::layer()
        .try_metrics(
            HttpMetrics::new()
                .requests_total("portal_requests_total")
                .duration_histogram("portal_request_duration_seconds")
                .in_flight_gauge("portal_requests_in_flight")
                .status_on_duration(true)
                .buckets(SEED002_BUCKETS),
        )
        .expect("seed 002 shape");
    let app = Router::new()
        .route("/phase/notes", post(answer_post).get(answer))
        .layer(layer);
    let addr = serve(app).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client
            .post(format!("http://{addr}/phase/notes?code=200"))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(
        get_status(format!("http://{addr}/phase/notes?code=404")).await,
        404
    );

    let s = scrape();
    assert_eq!(
        label_sets(&s, "portal_request_duration_seconds"),
        BTreeSet::from([names(&["route", "method", "status"])])
    );
    let route = "/phase/notes";
    let (les, count) = histogram(
        &s,
        "portal_request_duration_seconds",
        &[("route", route), ("method", "POST"), ("status", "200")],
    )
    .expect("POST 200 histogram");
    assert_eq!(les, SEED002_BUCKETS.to_vec(), "the seed's buckets, exactly");
    assert_eq!(count, 2.0);
    assert_eq!(
        histogram(
            &s,
            "portal_request_duration_seconds",
            &[("route", route), ("method", "GET"), ("status", "404")],
        )
        .map(|x| x.1),
        Some(1.0)
    );
    assert_eq!(
        counter(
            &s,
            "portal_requests_total",
            &[("route", route), ("method", "POST"), ("status", "200")]
        ),
        Some(2.0)
    );
    // Every request has ended: the renamed in-flight gauge is back to 0.
    assert!(matches!(
        sample(&s, "portal_requests_in_flight", &[]),
        Some(prometheus_parse::Value::Gauge(v)) if *v == 0.0
    ));
}

async fn answer_post(q: Query<Code>) -> (StatusCode, &'static str) {
    answer(q).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_on_the_duration_histogram_on_and_off() {
    setup();
    let shape = |name: &str, on: bool| {
        HttpMetrics::new()
            .requests_total(format!("{name}_requests_total"))
            .duration_histogram(format!("{name}_duration_seconds"))
            .without_in_flight_gauge()
            .status_on_duration(on)
    };
    // The method label renamed too.
    let on = observa::http::layer()
        .try_metrics(shape("shape_on", true).method_label("verb"))
        .expect("on");
    let off = observa::http::layer()
        .try_metrics(shape("shape_off", false))
        .expect("off");
    let on = serve(Router::new().route("/s", get(answer)).layer(on)).await;
    let off = serve(Router::new().route("/s", get(answer)).layer(off)).await;
    for addr in [on, off] {
        assert_eq!(get_status(format!("http://{addr}/s?code=200")).await, 200);
        assert_eq!(get_status(format!("http://{addr}/s?code=503")).await, 503);
    }

    let s = scrape();
    let l = |st| [("method", "GET"), ("route", "/s"), ("status", st)];
    let verb = |st| [("verb", "GET"), ("route", "/s"), ("status", st)];
    assert_eq!(
        label_sets(&s, "shape_on_duration_seconds"),
        BTreeSet::from([names(&["verb", "route", "status"])])
    );
    for st in ["200", "503"] {
        assert_eq!(
            histogram(&s, "shape_on_duration_seconds", &verb(st)).map(|x| x.1),
            Some(1.0)
        );
    }
    assert_eq!(
        label_sets(&s, "shape_off_duration_seconds"),
        BTreeSet::from([names(&["method", "route"])])
    );
    let (les, count) = histogram(
        &s,
        "shape_off_duration_seconds",
        &[("method", "GET"), ("route", "/s")],
    )
    .expect("one histogram for both statuses");
    assert_eq!(count, 2.0);
    assert_eq!(les, observa::metrics::DEFAULT_BUCKETS.to_vec());
    // The counters carry the status either way.
    assert_eq!(
        counter(&s, "shape_on_requests_total", &verb("503")),
        Some(1.0)
    );
    assert_eq!(
        counter(&s, "shape_off_requests_total", &l("503")),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_errors_not_panics() {
    setup();
    let refused = |m: HttpMetrics| {
        observa::http::layer()
            .try_metrics(m)
            .expect_err("refused shape")
    };
    let e = refused(HttpMetrics::new().requests_total("api-requests-total"));
    assert_eq!(
        e,
        HttpMetricsError::InvalidMetricName("api-requests-total".into())
    );
    assert!(e.to_string().contains("`api-requests-total`"), "{e}");
    assert!(matches!(
        refused(HttpMetrics::new().duration_histogram("9_seconds")),
        HttpMetricsError::InvalidMetricName(_)
    ));
    for bad in ["status code", "le", "__status", "", "quantile"] {
        assert_eq!(
            refused(HttpMetrics::new().status_label(bad)),
            HttpMetricsError::InvalidLabelName(bad.into()),
            "{bad:?}"
        );
    }
    assert_eq!(
        refused(HttpMetrics::new().route_label("status")),
        HttpMetricsError::DuplicateName("status".into())
    );
    assert_eq!(
        refused(HttpMetrics::new().in_flight_gauge("http_requests_total")),
        HttpMetricsError::DuplicateName("http_requests_total".into())
    );
    for bad in [
        vec![],
        vec![0.5, 0.1],
        vec![0.1, 0.1],
        vec![0.1, f64::NAN],
        vec![0.1, f64::INFINITY],
    ] {
        let e = refused(HttpMetrics::new().buckets(bad.clone()));
        assert!(
            matches!(e, HttpMetricsError::InvalidBuckets(_)),
            "{bad:?}: {e}"
        );
        assert!(e.to_string().contains("increasing order"), "{e}");
    }
    // A tenant label without a configured cap.
    let e = refused(seed001().tenant_label("tenant_id"));
    assert_eq!(e, HttpMetricsError::TenantWithoutCap("tenant_id".into()));
    assert!(e.to_string().contains("OBSERVA_METRICS_MAX_SERIES"), "{e}");

    // Clashes with families registered earlier: other labels, other type, other buckets.
    observa::metrics::CounterFamily::new("clash_requests_total", "t", &["tenant"]).expect("own");
    assert!(matches!(
        refused(HttpMetrics::new().requests_total("clash_requests_total")),
        HttpMetricsError::Registration(_)
    ));
    observa::metrics::CounterFamily::new("clash_seconds", "t", &["method", "route"]).expect("own");
    assert!(matches!(
        refused(HttpMetrics::new().duration_histogram("clash_seconds")),
        HttpMetricsError::Registration(_)
    ));
    let first = HttpMetrics::new()
        .requests_total("clash_b_requests_total")
        .duration_histogram("clash_b_duration_seconds")
        .without_in_flight_gauge()
        .buckets([0.3, 0.7]);
    observa::http::layer()
        .try_metrics(first.clone())
        .expect("first");
    // The same shape again shares the families.
    observa::http::layer()
        .try_metrics(first.clone())
        .expect("same shape");
    let e = refused(first.buckets([0.2, 0.7]));
    assert!(matches!(e, HttpMetricsError::Registration(_)), "{e}");
    assert!(e.to_string().contains("other buckets"), "{e}");

    // The infallible form logs and counts the refusal; the layer keeps its default metrics.
    let errors_before = internal_errors();
    let layer = observa::http::layer().metrics(HttpMetrics::new().status_label("status-code"));
    assert!(internal_errors() > errors_before);
    let lines = log_support::wait_lines(
        |v| v["event"] == "observa.metrics_error",
        |v| v.iter().any(|l| is_refusal_of(l, "status-code")),
    );
    let line = lines
        .iter()
        .find(|l| is_refusal_of(l, "status-code"))
        .expect("a refusal line");
    assert_eq!(line["level"], "error");
    let addr = serve(Router::new().route("/kept", get(answer)).layer(layer)).await;
    assert_eq!(
        get_status(format!("http://{addr}/kept?code=202")).await,
        202
    );
    assert_eq!(
        counter(
            &scrape(),
            "http_requests_total",
            &[("method", "GET"), ("route", "/kept"), ("status", "202")]
        ),
        Some(1.0)
    );
}

fn is_refusal_of(line: &serde_json::Value, name: &str) -> bool {
    line["error"]
        .as_str()
        .is_some_and(|e| e.contains(&format!("`{name}`")))
}

fn internal_errors() -> f64 {
    counter(
        &scrape(),
        "observa_internal_errors_total",
        &[("kind", "metrics")],
    )
    .unwrap_or(0.0)
}

/// Runs `tenant_label_child` in child processes of this binary, where the cardinality cap is
/// configured: through `OBSERVA_METRICS_MAX_SERIES`, and through
/// `Config::with_metrics_max_series`.
#[test]
fn tenant_label_present_with_a_configured_cap() {
    for how in ["env", "builder"] {
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "tenant_label_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, how)
        .env_remove("OBSERVA_METRICS_MAX_SERIES");
        if how == "env" {
            cmd.env("OBSERVA_METRICS_MAX_SERIES", "3");
        }
        let out = cmd.output().expect("child runs");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{how}: {text}");
        assert!(
            text.contains("1 passed"),
            "{how}: the child test ran: {text}"
        );
    }
}

async fn tenant_orders(headers: axum::http::HeaderMap) -> &'static str {
    // What an auth middleware does once it knows the tenant.
    let tenant = headers.get("x-tenant").and_then(|v| v.to_str().ok());
    observa::context::bind(tenant, None);
    "orders"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by tenant_label_present_with_a_configured_cap in a child process"]
async fn tenant_label_child() {
    let config = match std::env::var(CHILD).as_deref() {
        Ok("env") => observa::Config::from_env().expect("config from the environment"),
        Ok("builder") => observa::Config::new("http-metric-shapes").with_metrics_max_series(3),
        _ => return,
    };
    log_support::capture_config(config.with_log_level("info"));
    assert_eq!(observa::metrics::configured_max_series(), Some(3));
    let layer = observa::http::layer()
        .try_metrics(seed001().tenant_label("tenant_id"))
        .expect("a tenant label with a configured cap");
    let app = Router::new()
        .route("/orders", get(tenant_orders))
        .route("/login", get(|| async { "who are you" }))
        .layer(layer);
    let addr = serve(app).await;
    let client = reqwest::Client::new();
    let orders = |t: &'static str| {
        client
            .get(format!("http://{addr}/orders"))
            .header("x-tenant", t)
            .send()
    };
    for t in ["acme-eu", "acme-eu", "globex"] {
        assert_eq!(orders(t).await.expect("orders").status().as_u16(), 200);
    }
    assert_eq!(get_status(format!("http://{addr}/login")).await, 200);
    // A fourth label set is past the cap of 3: the overflow series.
    assert_eq!(
        orders("initech").await.expect("orders").status().as_u16(),
        200
    );

    let s = scrape();
    assert_eq!(
        label_sets(&s, "api_requests_total"),
        BTreeSet::from([names(&["method", "path", "status_code", "tenant_id"])])
    );
    let c = |p, t| {
        counter(
            &s,
            "api_requests_total",
            &[
                ("method", "GET"),
                ("path", p),
                ("status_code", "200"),
                ("tenant_id", t),
            ],
        )
    };
    let orders = "/orders";
    assert_eq!(c(orders, "acme-eu"), Some(2.0));
    assert_eq!(c(orders, "globex"), Some(1.0));
    assert_eq!(c("/login", ""), Some(1.0), "no tenant bound: empty value");
    assert_eq!(c(orders, "initech"), None);
    let overflow = observa::metrics::OVERFLOW;
    assert_eq!(
        counter(
            &s,
            "api_requests_total",
            &[
                ("method", overflow),
                ("path", overflow),
                ("status_code", overflow),
                ("tenant_id", overflow),
            ]
        ),
        Some(1.0)
    );
    // The histogram has no tenant label.
    assert_eq!(
        label_sets(&s, "api_request_duration_seconds"),
        BTreeSet::from([names(&["method", "path", "status_code"])])
    );
    assert_eq!(
        histogram(
            &s,
            "api_request_duration_seconds",
            &[("method", "GET"), ("path", orders), ("status_code", "200")]
        )
        .map(|x| x.1),
        Some(4.0)
    );
}
