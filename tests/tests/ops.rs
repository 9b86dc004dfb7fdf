//! `slo(...)` and `observa::ops` without a server: the inventory knows every objective before
//! the first call, latency thresholds become bucket bounds (also on a renamed family), the
//! generated rules pass `promtool check rules` and generated `promtool test rules` cases
//! (each alert fires under a burn above its threshold and stays silent under budget), the
//! dashboard has the structure Grafana imports, and the schema describes the events.
//!
//! promtool comes from the Debian package `prometheus` (installed by `.ci/run`); without it the
//! promtool tests say so and pass.

mod log_support;

use observa::observed;
use observa::ops::{Ops, Severity};
use observa::slo::{Indicator, Objective, Target};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

#[observed(
    event = "ops.never_called",
    slo(success = 99.9, latency_ms = 250, percentile = 99)
)]
fn never_called() {}

/// A seed-style renamed family (`worker_jobs_total{...}`), a threshold outside the default
/// buckets and a weekly window.
#[observed(
    event = "ops.sync_job",
    metric = "ops_worker_jobs",
    fields(job_id, password),
    slo(success = 99.5, latency_ms = 300, percentile = 95, window = "7d")
)]
fn sync_job(job_id: u64, password: &str) -> u64 {
    let _ = password;
    job_id
}

/// Held by the tests that register an objective at run time and by those that compare two reads
/// of the registry, so the one never lands between the other's reads.
static REGISTRY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn ops() -> Ops {
    // The route objective goes through the layer, as a service declares it.
    let _layer = observa::http::layer().slo(
        "/orders/{id}",
        Objective::success(99.0).with_latency(500, 99.0),
    );
    Ops::new("ops-test")
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

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("observa-ops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

#[test]
fn every_objective_is_known_before_the_first_call() {
    let slos = ops().objectives();
    let names: Vec<String> = slos.iter().map(|s| s.name()).collect();
    assert!(names.contains(&"ops.never_called".to_owned()), "{names:?}");
    assert!(names.contains(&"http /orders/{id}".to_owned()), "{names:?}");
    let sync = slos
        .iter()
        .find(|s| s.name() == "ops.sync_job")
        .expect("sync_job objective");
    assert_eq!(
        sync.target,
        Target::Event {
            event: "ops.sync_job",
            family: "ops_worker_jobs"
        }
    );
    assert_eq!(sync.objective.success, Some(99.5));
    assert_eq!(sync.objective.latency_ms, Some(300));
    assert_eq!(sync.objective.percentile, 95.0);
    assert_eq!(sync.objective.window_secs, 7 * 86_400);
    // The catalogue sees the never-called site too, with its field types and redaction.
    let events = observa::ops::events();
    let e = events
        .iter()
        .find(|e| e.id == "ops.sync_job")
        .expect("event");
    assert_eq!(e.family, Some("ops_worker_jobs"));
    let f: Vec<(&str, &str, bool)> = e
        .fields
        .iter()
        .map(|f| (f.name, f.rust_type, f.redacted))
        .collect();
    assert_eq!(
        f,
        vec![("job_id", "u64", false), ("password", "&str", true)]
    );
    assert!(events.iter().any(|e| e.id == "ops.never_called"));
}

#[test]
fn the_latency_threshold_is_a_bucket_bound_of_the_renamed_family() {
    assert_eq!(sync_job(7, "hunter2"), 7);
    let text = observa::metrics::render();
    let bounds: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("ops_worker_jobs_duration_seconds_bucket{")
                && l.contains("event=\"ops.sync_job\"")
        })
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    // 0.3 s is not a default bucket: the objective added it; the defaults are still there.
    assert!(bounds.contains(&"0.3"), "{bounds:?}");
    assert!(
        bounds.contains(&"0.25") && bounds.contains(&"0.5"),
        "{bounds:?}"
    );
}

#[test]
fn a_route_objective_that_is_not_a_bucket_after_the_histogram_exists_is_refused() {
    let _serial = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    // Creating the HTTP histogram fixes its buckets: a later threshold cannot be counted.
    observa::slo::register_route("/early", Objective::latency(500, 99.0)).expect("before");
    let app: axum::Router = axum::Router::new()
        .route("/early", axum::routing::get(|| async { "ok" }))
        .layer(observa::http::layer());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let r = reqwest::get(format!("http://{addr}/early"))
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
    });
    let err = observa::slo::register_route("/late", Objective::latency(123, 99.0))
        .expect_err("123 ms is not a bucket bound");
    assert!(err.to_string().contains("not a bucket bound"), "{err}");
    // A threshold that is a bound is still accepted.
    observa::slo::register_route("/late", Objective::latency(500, 99.0)).expect("a bound");
}

fn write(tag: &str) -> TempDir {
    let dir = temp_dir(tag);
    ops().write_dir(&*dir).expect("write_dir");
    dir
}

#[test]
fn promtool_accepts_the_rules() {
    let Some(promtool) = tool("promtool") else {
        eprintln!("SKIPPED: promtool not installed (Debian package `prometheus`)");
        return;
    };
    let dir = write("check");
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(dir.join(observa::ops::RULES_FILE))
        .output()
        .expect("promtool");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Expected labels and annotations of a firing alert.
type Expected = Option<(Vec<(String, String)>, Vec<(String, String)>)>;

/// The annotations of alert `name` in the generated rules file, rendered as Prometheus would
/// for job `svc` and an alert value of `value` (the long window's ratio).
fn annotations(rules: &str, name: &str, value: f64) -> Vec<(String, String)> {
    let start = rules
        .find(&format!("- alert: {}", q(name)))
        .expect("alert in rules");
    let block = &rules[start..];
    let block = &block[..block[1..].find("\n      - ").map_or(block.len(), |i| i + 1)];
    let pct = format!("{:.4}", value * 100.0);
    let pct = pct.trim_end_matches('0').trim_end_matches('.').to_owned() + "%";
    ["summary", "description", "runbook_url"]
        .iter()
        .map(|k| {
            let line = block
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{k}: ")))
                .expect("annotation");
            let v: String = serde_json::from_str(line).expect("quoted");
            let v = v
                .replace("{{ $labels.job }}", "svc")
                .replace("{{ $value | humanizePercentage }}", &pct);
            ((*k).to_owned(), v)
        })
        .collect()
}

/// One `promtool test rules` case: `series` at one sample a minute for 400 minutes, evaluated
/// at 3h, each alert expected silent (`None`) or firing with labels and annotations.
fn case(series: &[(String, String)], checks: &[(String, Expected)]) -> String {
    let mut y = String::from("  - interval: 1m\n    input_series:\n");
    for (s, v) in series {
        y.push_str(&format!(
            "      - series: {}\n        values: {}\n",
            q(s),
            q(v)
        ));
    }
    y.push_str("    alert_rule_test:\n");
    for (name, labels) in checks {
        y.push_str(&format!(
            "      - eval_time: 3h\n        alertname: {}\n",
            q(name)
        ));
        match labels {
            None => y.push_str("        exp_alerts: []\n"),
            Some((l, a)) => {
                y.push_str("        exp_alerts:\n          - exp_labels:\n");
                for (k, v) in l {
                    y.push_str(&format!("              {k}: {}\n", q(v)));
                }
                y.push_str("            exp_annotations:\n");
                for (k, v) in a {
                    y.push_str(&format!("              {k}: {}\n", q(v)));
                }
            }
        }
    }
    y
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// Input series of one indicator with a bad-call ratio of `bad` (per minute: 10000 calls).
fn series_for(target: &Target, ind: &Indicator, bad: f64) -> Vec<(String, String)> {
    let total = 10_000.0;
    let n = |x: f64| format!("0+{x}x400");
    let (bad_n, good_n) = ((total * bad).round(), (total * (1.0 - bad)).round());
    match (target, ind) {
        (Target::Event { event, family }, Indicator::Success { .. }) => vec![
            (
                format!("{family}_total{{event=\"{event}\",outcome=\"ok\",job=\"svc\"}}"),
                n(good_n),
            ),
            (
                format!("{family}_total{{event=\"{event}\",outcome=\"server_error\",job=\"svc\"}}"),
                n(bad_n),
            ),
        ],
        (Target::Event { event, family }, Indicator::Latency { ms, .. }) => vec![
            (
                format!(
                    "{family}_duration_seconds_bucket{{event=\"{event}\",le=\"{}\",job=\"svc\"}}",
                    *ms as f64 / 1000.0
                ),
                n(good_n),
            ),
            (
                format!("{family}_duration_seconds_count{{event=\"{event}\",job=\"svc\"}}"),
                n(total),
            ),
        ],
        (Target::Route { route }, Indicator::Success { .. }) => vec![
            (
                format!(
                    "http_requests_total{{route=\"{route}\",method=\"GET\",status=\"200\",job=\"svc\"}}"
                ),
                n(good_n),
            ),
            (
                format!(
                    "http_requests_total{{route=\"{route}\",method=\"GET\",status=\"503\",job=\"svc\"}}"
                ),
                n(bad_n),
            ),
        ],
        (Target::Route { route }, Indicator::Latency { ms, .. }) => vec![
            (
                format!(
                    "http_request_duration_seconds_bucket{{route=\"{route}\",method=\"GET\",le=\"{}\",job=\"svc\"}}",
                    *ms as f64 / 1000.0
                ),
                n(good_n),
            ),
            (
                format!(
                    "http_request_duration_seconds_count{{route=\"{route}\",method=\"GET\",job=\"svc\"}}"
                ),
                n(total),
            ),
        ],
    }
}

#[test]
fn promtool_unit_tests_fire_under_burn_and_stay_silent_under_budget() {
    let Some(promtool) = tool("promtool") else {
        eprintln!("SKIPPED: promtool not installed (Debian package `prometheus`)");
        return;
    };
    let dir = write("unit");
    let rules = std::fs::read_to_string(dir.join(observa::ops::RULES_FILE)).expect("rules");
    let ops = ops();
    let alerts = ops.alerts();
    assert!(alerts.len() >= 8, "{}", alerts.len());
    let mut y = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n",
        q(&dir.join(observa::ops::RULES_FILE).display().to_string())
    );
    let mut cases = 0;
    for slo in ops.objectives() {
        for ind in slo.objective.indicators() {
            let mine: Vec<_> = alerts
                .iter()
                .filter(|a| a.slo == slo && a.indicator == ind)
                .collect();
            assert_eq!(mine.len(), 2, "a page and a ticket per indicator");
            let budget = 1.0 - ind.target();
            let labels = |name: &str, sev: Severity, value: f64| -> Expected {
                Some((
                    vec![
                        ("job".to_owned(), "svc".to_owned()),
                        ("severity".to_owned(), sev.as_str().to_owned()),
                        ("sli".to_owned(), ind.kind().to_owned()),
                        ("slo".to_owned(), slo.name()),
                    ],
                    annotations(&rules, name, value),
                ))
            };
            // A fast burn (every call bad): page and ticket fire.
            let burn: Vec<_> = mine
                .iter()
                .map(|a| (a.name.clone(), labels(&a.name, a.severity, 1.0)))
                .collect();
            y.push_str(&case(&series_for(&slo.target, &ind, 1.0), &burn));
            // Under budget (a tenth of it): silent.
            let silent: Vec<_> = mine.iter().map(|a| (a.name.clone(), None)).collect();
            y.push_str(&case(
                &series_for(&slo.target, &ind, budget / 10.0),
                &silent,
            ));
            // A slow burn (4x: above the ticket's 3x and 1x, below the page's 6x): ticket only.
            let slow: Vec<_> = mine
                .iter()
                .map(|a| {
                    let exp = (a.severity == Severity::Ticket)
                        .then(|| labels(&a.name, a.severity, budget * 4.0))
                        .flatten();
                    (a.name.clone(), exp)
                })
                .collect();
            y.push_str(&case(&series_for(&slo.target, &ind, budget * 4.0), &slow));
            cases += 3;
        }
    }
    let test_file = dir.join("slo.test.yml");
    std::fs::write(&test_file, &y).expect("write tests");
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .expect("promtool");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{text}\n--- {}\n{y}",
        test_file.display()
    );
    assert!(text.contains("SUCCESS"), "{text}");
    assert!(cases >= 12, "{cases}");
}

/// The structure Grafana imports: a schema version, unique panel ids, targets with `expr`, a
/// Prometheus data source variable that every panel and target uses, the service variable.
pub fn check_dashboard(d: &Value) {
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion"
    );
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        d["uid"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t.len() <= 40)
    );
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let svc = vars
        .iter()
        .find(|v| v["name"] == "service")
        .expect("service variable");
    assert_eq!(svc["type"], "query");
    assert!(
        svc["definition"]
            .as_str()
            .is_some_and(|q| q.contains("label_values("))
    );
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = HashSet::new();
    let mut targets = 0;
    for p in panels {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_u64(), "gridPos.{k} of {p}");
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{p}");
        let ts = p["targets"].as_array().expect("targets");
        assert!(!ts.is_empty(), "{p}");
        let mut refs = HashSet::new();
        for t in ts {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{t}");
            assert!(refs.insert(t["refId"].as_str().expect("refId").to_owned()));
            assert_eq!(t["datasource"]["uid"], "${datasource}");
            targets += 1;
        }
    }
    assert!(targets > 0);
}

#[test]
fn the_dashboard_has_what_grafana_imports_and_every_panel_kind() {
    let dir = write("dash");
    let text = std::fs::read_to_string(dir.join(observa::ops::DASHBOARD_FILE)).expect("dashboard");
    let d: Value = serde_json::from_str(&text).expect("JSON");
    check_dashboard(&d);
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "ops.sync_job: latency p50 / p95 / p99",
        "ops.sync_job: error ratio",
        "ops.sync_job: throughput by outcome",
        "ops.sync_job: in flight",
        "HTTP latency p50 / p95 / p99 by route",
        "ops.sync_job latency: remaining error budget (1w)",
    ] {
        assert!(titles.contains(&want), "{want} in {titles:?}");
    }
    // The burn-rate panel draws the objective (burn rate 1) as a threshold line.
    let burn = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .find(|p| {
            p["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("ops.sync_job success: burn rate"))
        })
        .expect("burn panel");
    assert_eq!(
        burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"],
        "line"
    );
    assert_eq!(
        burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        1.0
    );
    // Queries of the renamed family.
    assert!(text.contains("ops_worker_jobs_duration_seconds_bucket"));
}

#[test]
fn runbooks_and_annotations_belong_together() {
    let dir = write("runbooks");
    let rules = std::fs::read_to_string(dir.join(observa::ops::RULES_FILE)).expect("rules");
    for a in ops().alerts() {
        let path = dir.join(format!("runbooks/{}.md", a.name));
        let md =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(md.starts_with(&format!("# {}\n", a.name)));
        for section in [
            "## What it means",
            "## Investigation steps",
            "## Resolution",
            "```promql",
            "correlation_id",
        ] {
            assert!(md.contains(section), "{section} in {}", a.name);
        }
        assert!(
            rules.contains(&format!("runbook_url: \"runbooks/{}.md\"", a.name)),
            "{}",
            a.name
        );
    }
    assert!(rules.contains("summary: ") && rules.contains("description: "));
    let cat = std::fs::read_to_string(dir.join(observa::ops::CATALOG_FILE)).expect("catalogue");
    assert!(cat.contains("`password`: `&str` (redacted)"), "{cat}");
    assert!(cat.contains("`ops_worker_jobs_total`"), "{cat}");
    assert!(
        cat.contains("success 99.5%, p95 within 300 ms over 1w"),
        "{cat}"
    );
}

#[test]
fn the_schema_accepts_real_lines_and_refuses_wrong_ones() {
    let logs = {
        log_support::capture("ops-test", "info");
        assert_eq!(sync_job(42, "hunter2"), 42);
        log_support::wait_lines(
            |v| v["event"] == "ops.sync_job.completed" && v["job_id"] == 42,
            |l| !l.is_empty(),
        )
    };
    assert!(!logs.is_empty(), "no line");
    let schema = ops().schema();
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    for line in &logs {
        let errors: Vec<String> = v.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
    }
    // Wrong type, unredacted secret, missing outcome: refused.
    let mut bad = logs[0].clone();
    bad["job_id"] = Value::from("forty-two");
    assert!(!v.is_valid(&bad));
    let mut bad = logs[0].clone();
    bad["password"] = Value::from("hunter2");
    assert!(!v.is_valid(&bad));
    let mut bad = logs[0].clone();
    bad.as_object_mut().expect("object").remove("outcome");
    assert!(!v.is_valid(&bad));
}

#[test]
fn the_outputs_are_served_over_http() {
    // Compares a snapshot with what is served: no objective may be registered in between.
    let _serial = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let ops = ops();
    let files = ops.files();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let app: axum::Router = ops.router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let index = reqwest::get(format!("http://{addr}/ops"))
            .await
            .expect("index")
            .text()
            .await
            .expect("body");
        for f in &files {
            assert!(
                index.lines().any(|l| l == f.path),
                "{} not in the index",
                f.path
            );
            let r = reqwest::get(format!("http://{addr}/ops/{}", f.path))
                .await
                .expect("file");
            assert_eq!(r.status(), 200, "{}", f.path);
            assert_eq!(r.text().await.expect("body"), f.contents, "{}", f.path);
        }
        let r = reqwest::get(format!("http://{addr}/ops/nope.yml"))
            .await
            .expect("missing");
        assert_eq!(r.status(), 404);
    });
}
