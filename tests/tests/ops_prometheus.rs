//! The generated operations files against a real Prometheus: an axum service in this process
//! (observa's layer, `#[observed]` functions with objectives, one on a renamed family, and a
//! route objective) serves `/metrics`; a Prometheus server (Debian package `prometheus`) is
//! started on 127.0.0.1 with a generated configuration (1 s scrape and evaluation) and the
//! generated rules, and stopped by PID. The test drives traffic with a known error ratio and
//! latency ratio, then checks that the recording rules produce the expected values within a
//! tolerance, that every expression of every dashboard panel returns at least one series from
//! the query API, and that every log line the service wrote validates against the generated
//! JSON Schema.
//!
//! Without the `prometheus` binary the test says so and passes. With `OBSERVA_OPS_PLOT=FILE`
//! it drives a longer run with a burst of errors and writes the dashboard's series (from
//! `query_range`) to FILE, for `scripts/plot_dashboard.py`.

mod log_support;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use observa::observed;
use observa::ops::Ops;
use observa::slo::Objective;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const JOB: &str = "ops-live";

/// Percent of failing calls, changed by the plot run.
static ERROR_EVERY: AtomicU64 = AtomicU64::new(10);

#[derive(Debug)]
struct OrderError;

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the order store failed")
    }
}

impl std::error::Error for OrderError {}

/// Seed 001's family names: `shop_orders_total{event,outcome}`.
#[observed(
    event = "orders.get",
    metric = "shop_orders",
    fields(order_id),
    slo(success = 99, latency_ms = 30, percentile = 90)
)]
async fn load_order(order_id: u64) -> Result<u64, OrderError> {
    let every = ERROR_EVERY.load(Ordering::Relaxed);
    if order_id.is_multiple_of(every) {
        return Err(OrderError);
    }
    if order_id % 10 == 5 {
        tokio::time::sleep(Duration::from_millis(45)).await;
    }
    Ok(order_id)
}

#[observed(event = "whoami", tenant, slo(success = 99.5, window = "7d"))]
async fn whoami(tenant: &str) -> String {
    tenant.to_owned()
}

async fn order(Path(id): Path<u64>) -> Result<String, StatusCode> {
    load_order(id)
        .await
        .map(|v| v.to_string())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

fn app() -> Router {
    let layer = observa::http::layer().slo(
        "/orders/{id}",
        Objective::success(99.0).with_latency(30, 90.0),
    );
    Router::new()
        .route("/orders/{id}", get(order))
        .route(
            "/whoami/{tenant}",
            get(|Path(t): Path<String>| async move { whoami(&t).await }),
        )
        .route("/metrics", get(observa::http::metrics_handler))
        .layer(layer)
}

fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    // CI installs the package and sets this: there, a missing binary is a failure, not a skip.
    assert!(
        found.is_some() || std::env::var_os("OBSERVA_REQUIRE_PROMETHEUS").is_none(),
        "{name} is required (OBSERVA_REQUIRE_PROMETHEUS is set) but not on PATH"
    );
    found
}

/// The Prometheus child, killed by PID when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn query(client: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let url = format!("{prom}/api/v1/query?query={}", encode(q));
    let body = client
        .get(&url)
        .send()
        .await
        .expect("query")
        .text()
        .await
        .expect("body");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A dashboard expression as Grafana sends it for service `JOB`.
fn concrete(expr: &str) -> String {
    expr.replace("$service", JOB)
        .replace("$__rate_interval", "1m")
}

/// Order ids, consecutive across rounds.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Rounds of 20 order requests (consecutive ids: one in `ERROR_EVERY` fails, one in ten is
/// slow) and one whoami, for `secs`.
async fn drive(client: &reqwest::Client, app: SocketAddr, secs: u64) -> u64 {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0;
    while Instant::now() < end {
        for _ in 0..20 {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let r = client
                .get(format!("http://{app}/orders/{id}"))
                .send()
                .await
                .expect("order");
            let every = ERROR_EVERY.load(Ordering::Relaxed);
            let want = if id.is_multiple_of(every) { 500 } else { 200 };
            assert_eq!(r.status().as_u16(), want);
            n += 1;
        }
        let r = client
            .get(format!("http://{app}/whoami/acme"))
            .send()
            .await
            .expect("whoami");
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_evaluates_the_generated_rules_and_dashboard() {
    let Some(prometheus) = tool("prometheus") else {
        eprintln!("SKIPPED: prometheus not installed (Debian package `prometheus`)");
        return;
    };
    let logs = log_support::capture("ops-live", "info");
    let dir = std::env::temp_dir().join(format!("observa-ops-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");

    // The service.
    let router = app();
    let ops = Ops::new(JOB);
    ops.write_dir(dir.join("ops")).expect("write ops");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    // Prometheus, on a free port, with a generated configuration.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [\"{app_addr}\"]\n",
        serde_json::to_string(
            &dir.join("ops")
                .join(observa::ops::RULES_FILE)
                .display()
                .to_string()
        )
        .expect("path")
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let child = Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let _server = Server(child);
    let prom = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{prom}/-/ready")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < ready,
            "prometheus not ready: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let plot = std::env::var_os("OBSERVA_OPS_PLOT");
    let started = std::time::SystemTime::now();
    if plot.is_some() {
        // Calm (0.5% errors, within the 1% budget), a burst of 25% errors, calm again.
        ERROR_EVERY.store(200, Ordering::Relaxed);
        drive(&client, app_addr, 60).await;
        ERROR_EVERY.store(4, Ordering::Relaxed);
        drive(&client, app_addr, 45).await;
        ERROR_EVERY.store(200, Ordering::Relaxed);
        drive(&client, app_addr, 60).await;
    } else {
        let n = drive(&client, app_addr, 12).await;
        assert!(n >= 100, "{n} requests");
    }

    // The recording rules: 10% errors and 10% slow calls, for the event (renamed family) and
    // the route; no errors for whoami (the zero comes from the `or` branch).
    let checks: &[(&str, f64, f64)] = &[
        (
            "observa_slo:sli_error:ratio_rate5m{slo=\"orders.get\",sli=\"success\"}",
            0.1,
            0.03,
        ),
        (
            "observa_slo:sli_error:ratio_rate5m{slo=\"orders.get\",sli=\"latency\"}",
            0.1,
            0.04,
        ),
        (
            "observa_slo:sli_error:ratio_rate5m{slo=\"http /orders/{id}\",sli=\"success\"}",
            0.1,
            0.03,
        ),
        (
            "observa_slo:sli_error:ratio_rate5m{slo=\"http /orders/{id}\",sli=\"latency\"}",
            0.1,
            0.04,
        ),
        (
            "observa_slo:sli_error:ratio_rate70s{slo=\"whoami\",sli=\"success\"}",
            0.0,
            0.0,
        ),
        (
            "observa_slo:objective:ratio{slo=\"orders.get\",sli=\"success\"}",
            0.99,
            0.0,
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    for (q, want, tol) in checks {
        let got = loop {
            let r = query(&client, &prom, q).await;
            if let Some(s) = r
                .iter()
                .find(|s| s["metric"]["job"] == JOB || s["metric"]["job"].is_null())
            {
                let v = value(s);
                if !v.is_nan() {
                    break v;
                }
            }
            assert!(Instant::now() < deadline, "no value for {q}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        eprintln!("{q} = {got}");
        if plot.is_none() {
            assert!(
                (got - want).abs() <= *tol + 1e-9,
                "{q}: {got}, expected {want} ± {tol}"
            );
        }
    }
    // The remaining budget is computed (10% errors against a 1% budget: overspent).
    let budget = query(
        &client,
        &prom,
        "observa_slo:error_budget:remaining{slo=\"orders.get\",sli=\"success\"}",
    )
    .await;
    assert!(!budget.is_empty());
    if plot.is_none() {
        assert!(value(&budget[0]) < 0.0, "{budget:?}");
    }

    // Every expression of every dashboard panel returns at least one series.
    let dashboard = ops.dashboard();
    let mut exprs = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push((
                p["title"].as_str().unwrap_or("").to_owned(),
                t["legendFormat"].clone(),
                concrete(t["expr"].as_str().expect("expr")),
            ));
        }
    }
    assert!(exprs.len() >= 20, "{}", exprs.len());
    eprintln!("{} dashboard expressions", exprs.len());
    let mut empty = Vec::new();
    for (title, _, e) in &exprs {
        if query(&client, &prom, e).await.is_empty() {
            empty.push(format!("{title}: {e}"));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without series:\n{}",
        empty.join("\n")
    );

    // Every line the service wrote validates against the generated schema.
    let lines = log_support::json_lines();
    let _ = logs;
    assert!(lines.iter().any(|l| l["event"] == "orders.get.failed"));
    assert!(lines.iter().any(|l| l["event"] == "request.failed"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("ops").join(observa::ops::SCHEMA_FILE)).expect("schema"),
    )
    .expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema");
    for l in &lines {
        let errors: Vec<String> = validator.iter_errors(l).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{l}: {errors:?}");
    }

    if let Some(out) = plot {
        let start = started
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let mut data = Vec::new();
        for (title, legend, e) in &exprs {
            let url = format!(
                "{prom}/api/v1/query_range?query={}&start={start}&end={end}&step=1",
                encode(&e.replace("[1m]", "[20s]"))
            );
            let body = client
                .get(&url)
                .send()
                .await
                .expect("range")
                .text()
                .await
                .expect("body");
            let v: Value = serde_json::from_str(&body).expect("JSON");
            data.push(json!({ "title": title, "legend": legend, "expr": e, "result": v["data"]["result"] }));
        }
        std::fs::write(out, serde_json::to_string(&data).expect("json")).expect("write plot data");
    }
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
}
