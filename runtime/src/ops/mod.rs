//! Operations from the code: everything a service's operators need, generated from the
//! objectives and call sites the program declares (see [`crate::slo`]), so nothing is written
//! twice.
//!
//! ```no_run
//! // At start-up, or behind a command (`service -- ops DIR`):
//! let files = observa::ops::Ops::new("orders-api").write_dir("ops")?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! One call gives:
//! - `prometheus/observa-slo.rules.yml`: per objective and indicator (success, latency),
//!   recording rules of the error ratio over every window the alerts need
//!   (`observa_slo:sli_error:ratio_rate<range>`), the remaining error budget and the objective,
//!   and two multi-window, multi-burn-rate alerts (severity `page`: 14.4x over 1h and 5m, or 6x
//!   over 6h and 30m; `ticket`: 3x over 1d and 2h, or 1x over 3d and 6h; windows scaled to the
//!   objective's window) with `summary`, `description` and `runbook_url`;
//! - `grafana/observa-dashboard.json`: per event and for HTTP routes p50/p95/p99 latency, error
//!   ratio, throughput and in-flight; per objective the remaining budget and the burn rate with
//!   the objective as a threshold line; variables `datasource` and `service` (the `job` label);
//! - `runbooks/<alert>.md`: one per alert;
//! - `catalog/events.md` and `catalog/events.schema.json`: the event catalogue.
//!
//! Limits: the rules group by `job`, so every scraped instance of a service counts together;
//! a latency objective reads the bucket whose bound is the threshold (always one: see
//! [`crate::slo`]); an objective on a route applies to all its methods.

mod catalog;
mod dashboard;
mod promql;
mod rules;
mod runbook;

pub use catalog::{Event, Field, events};
pub use rules::{Alert, BurnWindow, Severity, alerts, burn_windows, ranges, ratio_record};
pub use rules::{BUDGET_RECORD, OBJECTIVE_RECORD};

use std::io;
use std::path::{Path, PathBuf};

/// Path of the rules file inside the output.
pub const RULES_FILE: &str = "prometheus/observa-slo.rules.yml";
/// Path of the dashboard inside the output.
pub const DASHBOARD_FILE: &str = "grafana/observa-dashboard.json";
/// Path of the Markdown catalogue inside the output.
pub const CATALOG_FILE: &str = "catalog/events.md";
/// Path of the JSON Schema of the lines inside the output.
pub const SCHEMA_FILE: &str = "catalog/events.schema.json";

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Relative path (`/`-separated).
    pub path: String,
    /// Contents.
    pub contents: String,
}

/// The generator. Cheap; reads the inventory on each call.
#[derive(Clone, Debug)]
pub struct Ops {
    service: String,
    runbook_base: String,
    http: bool,
}

impl Ops {
    /// For the service `service` (the Prometheus `job` label the runbooks' queries use).
    pub fn new(service: impl Into<String>) -> Ops {
        Ops {
            service: service.into(),
            runbook_base: "runbooks/".to_owned(),
            http: cfg!(feature = "tower"),
        }
    }

    /// Prefix of `runbook_url` (default `runbooks/`, the generated folder): where the runbooks
    /// are published, ending in `/`.
    pub fn runbook_base_url(mut self, url: impl Into<String>) -> Ops {
        self.runbook_base = url.into();
        self
    }

    /// Whether the HTTP request layer's metrics and events are included (default: with
    /// feature `tower`).
    pub fn http(mut self, yes: bool) -> Ops {
        self.http = yes;
        self
    }

    /// The objectives the outputs are built from.
    pub fn objectives(&self) -> Vec<crate::slo::Slo> {
        crate::slo::objectives()
            .into_iter()
            .filter(|s| self.http || matches!(s.target, crate::slo::Target::Event { .. }))
            .collect()
    }

    /// The alerts of the rules file.
    pub fn alerts(&self) -> Vec<Alert> {
        rules::alerts(&self.objectives())
    }

    /// The rules file (YAML).
    pub fn rules(&self) -> String {
        rules::render(&self.objectives(), &self.runbook_base)
    }

    /// The dashboard (Grafana JSON model).
    pub fn dashboard(&self) -> serde_json::Value {
        let events: Vec<(&'static str, &'static str)> = events()
            .into_iter()
            .filter_map(|e| e.family.map(|f| (f, e.id)))
            .collect();
        let uid: String = format!("observa-{}", self.service)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        dashboard::render(
            &format!("{}: observa", self.service),
            &uid,
            &events,
            &self.objectives(),
        )
    }

    /// The JSON Schema of the program's log lines.
    pub fn schema(&self) -> serde_json::Value {
        catalog::schema(&events(), self.http)
    }

    /// Every output, in a stable order.
    pub fn files(&self) -> Vec<File> {
        let slos = self.objectives();
        let pretty = |v: &serde_json::Value| {
            let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
            s.push('\n');
            s
        };
        let mut out = vec![
            File {
                path: RULES_FILE.to_owned(),
                contents: rules::render(&slos, &self.runbook_base),
            },
            File {
                path: DASHBOARD_FILE.to_owned(),
                contents: pretty(&self.dashboard()),
            },
            File {
                path: CATALOG_FILE.to_owned(),
                contents: catalog::markdown(&events(), &slos, self.http),
            },
            File {
                path: SCHEMA_FILE.to_owned(),
                contents: pretty(&self.schema()),
            },
        ];
        for a in rules::alerts(&slos) {
            out.push(File {
                path: format!("runbooks/{}.md", a.name),
                contents: runbook::render(&a, &self.service),
            });
        }
        out
    }

    /// Writes every output under `dir` (created as needed); returns the paths written.
    pub fn write_dir(&self, dir: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        let mut written = Vec::new();
        for f in self.files() {
            let path = dir.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, f.contents)?;
            written.push(path);
        }
        Ok(written)
    }

    /// An axum router serving every output under `/ops/<path>` and an index at `/ops`.
    #[cfg(feature = "axum")]
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> axum::Router<S> {
        use axum::extract::Path as UrlPath;
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;
        let this = std::sync::Arc::new(self);
        let index = this.clone();
        axum::Router::new()
            .route(
                "/ops",
                axum::routing::get(move || {
                    let list: Vec<String> = index.files().into_iter().map(|f| f.path).collect();
                    async move { list.join("\n") + "\n" }
                }),
            )
            .route(
                "/ops/{*path}",
                axum::routing::get(move |UrlPath(path): UrlPath<String>| {
                    let found = this.files().into_iter().find(|f| f.path == path);
                    async move {
                        match found {
                            Some(f) => {
                                let ct = if f.path.ends_with(".json") {
                                    "application/json"
                                } else if f.path.ends_with(".md") {
                                    "text/markdown; charset=utf-8"
                                } else {
                                    "text/yaml; charset=utf-8"
                                };
                                ([(header::CONTENT_TYPE, ct)], f.contents).into_response()
                            }
                            None => StatusCode::NOT_FOUND.into_response(),
                        }
                    }
                }),
            )
    }
}
