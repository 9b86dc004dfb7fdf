//! Configuration: [`Config`], from code or from `OBSERVA_*` environment variables.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OBSERVA_SERVICE_NAME` | service name in logs, audit records and traces | `unknown_service` |
//! | `OBSERVA_SERVICE_VERSION` | service version | the `observa` crate version |
//! | `OBSERVA_ENV` | environment; `production` turns on the allowlist and disables body logging | `development` |
//! | `OBSERVA_LOG_LEVEL` | `tracing` filter directives (`info`, `info,hyper=warn`; span and field directives such as `[request{id}]=debug` are accepted too and switch to `EnvFilter`, which costs more per span) | `info` |
//! | `OBSERVA_LOG_FORMAT` | `json` or `console` (production forces `json`) | `json` |
//! | `OBSERVA_LOG_FILE` | whole path of a size-rotated JSONL file written besides stdout; when set, it wins over `OBSERVA_LOG_DIR` / `OBSERVA_LOG_FILE_NAME` for the main file | none |
//! | `OBSERVA_LOG_DIR` | directory of the log files (created, mode 0750, when missing); setting it turns the file sink on | none |
//! | `OBSERVA_LOG_FILE_NAME` | file name in `OBSERVA_LOG_DIR` (the working directory when the directory is unset); setting it turns the file sink on | `app.jsonl` |
//! | `OBSERVA_LOG_FILE_MAX_BYTES` | rotation size (of every log file) | 10 MiB |
//! | `OBSERVA_LOG_FILE_BACKUPS` | rotated files kept (of every log file) | 10 |
//! | `OBSERVA_LOG_FILE_MAX_AGE` | rotated files older than this (by last write) are removed at start and at every rotation: `30d`, `12h`, `90m`, `45s`, or a bare number of days | none (kept until `BACKUPS` pushes them out) |
//! | `OBSERVA_LOG_ROUTES` | targets written to files of their own instead of the main file: `publish_sync=publish_sync.log,webhooks` (a bare target gets `<target>.jsonl`); a target matches itself and its children (`publish_sync::x`, `publish_sync.x`) | none |
//! | `OBSERVA_LOG_MAX_VALUE_BYTES` | bound for one text value (message, field, recorded string) | 4096 |
//! | `OBSERVA_LOG_MAX_LINE_BYTES` | bound for a whole line (at least 16384); fields that do not fit are cut with a `line_truncated` marker | 65536 |
//! | `OBSERVA_LOG_QUEUE` | lines buffered for the writer thread before dropping (the buffer is bounded at 512 bytes a line) | 65536 |
//! | `OBSERVA_REDACT_KEY` | key of `#[redact(fingerprint)]` pseudonyms (16+ bytes) | random per process |
//! | `OBSERVA_AUDIT_SIGNING_KEY` | Ed25519 seed that signs audit checkpoints | unsigned |
//! | `OBSERVA_METRICS_MAX_SERIES` | label sets per metric family before overflow; set, it also allows per-tenant labels (the HTTP layer's `tenant_label`) | 1000 |
//! | `OBSERVA_AUDIT_URL` | audit store (`sqlite:PATH`, `postgres://...`) that `#[audit]` writes to; the field is [`Config::audit_url`] | `sqlite:observa-audit.db` |
//! | `OBSERVA_OTLP_ENDPOINT` | OTLP/HTTP endpoint (feature `otlp`) | none (off) |
//! | `OBSERVA_OTLP_SAMPLE_RATIO` | trace sampling ratio in `[0, 1]` | 1.0 |
//! | `OBSERVA_SENTRY_DSN` (or `SENTRY_DSN`) | Sentry DSN (feature `sentry`; `OBSERVA_SENTRY_DSN` wins) | none (off) |
//! | `OBSERVA_SENTRY_ENVIRONMENT` | Sentry environment | `OBSERVA_ENV` |
//! | `OBSERVA_SENTRY_RELEASE` | Sentry release | `<service name>@<service version>` |
//! | `OBSERVA_SENTRY_SAMPLE_RATE` | share of error events sent, in `[0, 1]` | 1.0 |
//! | `OBSERVA_PANIC_BACKTRACE` | `1`: a bounded backtrace on a panic's ERROR line; `0`: never; unset: `RUST_BACKTRACE` decides | unset |
//!
//! A variable that is set but invalid is an error naming the variable and what it accepts; it
//! is never silently replaced by a default.
//!
//! What [`crate::init`] (or [`crate::layer`]) is given is what every subsystem uses, whether it
//! came from code or from the environment: the audit store opened on first use is
//! [`Config::audit_url`] when set, and audit records carry [`Config::service_name`] and
//! [`Config::service_version`] (the environment's `OBSERVA_SERVICE_*` only before `init`).

use crate::log::Format;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Name of the main log file when only `OBSERVA_LOG_DIR` is set (the seeds' `LOG_FILE_NAME`
/// default).
pub const DEFAULT_LOG_FILE_NAME: &str = "app.jsonl";

/// Default number of rotated files kept per log file (the seeds' `LOG_FILE_BACKUP_COUNT`).
pub const DEFAULT_LOG_FILE_BACKUPS: usize = 10;

/// A target routed to a log file of its own ([`Config::with_log_route`], `OBSERVA_LOG_ROUTES`).
///
/// Lines whose target is `target`, or starts with `target` followed by `::` or `.`, go to
/// `file_name` in the log directory (rotated like the main file) and to stdout, and not to the
/// main file (the seeds' non-propagating loggers). When several routes match, the longest
/// target wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRoute {
    /// Target (or target prefix) routed.
    pub target: String,
    /// File name in the log directory (sanitised like the main file's name).
    pub file_name: String,
}

/// A writer that replaces stdout (tests, embedding).
pub(crate) type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// The runtime configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Service name.
    pub service_name: String,
    /// Service version.
    pub service_version: String,
    /// Environment name (`production` is special).
    pub environment: String,
    /// `tracing` filter directives.
    pub log_level: String,
    /// Format of the stdout sink.
    pub log_format: Format,
    /// Optional rotated JSONL file (the whole path; wins over `log_dir` / `log_file_name` for
    /// the main file).
    pub log_file: Option<PathBuf>,
    /// Directory of the log files (main file and routed files); created when missing.
    pub log_dir: Option<PathBuf>,
    /// Name of the main file in `log_dir` (default [`DEFAULT_LOG_FILE_NAME`]).
    pub log_file_name: Option<String>,
    /// Rotation size of every log file.
    pub log_file_max_bytes: u64,
    /// Rotated files kept, per log file.
    pub log_file_backups: usize,
    /// Rotated files older than this (by their last write) are removed at start and at every
    /// rotation; `None`: only `log_file_backups` bounds them.
    pub log_file_max_age: Option<Duration>,
    /// Targets written to a file of their own (in the log directory) instead of the main file.
    pub log_routes: Vec<LogRoute>,
    /// Bound of one text value in bytes.
    pub log_max_value_bytes: usize,
    /// Bound of a whole log line in bytes (at least [`crate::encode::json::MIN_MAX_LINE_BYTES`]).
    pub log_max_line_bytes: usize,
    /// Lines queued before dropping.
    pub log_queue_lines: usize,
    /// Cardinality cap per metric family. Set from `OBSERVA_METRICS_MAX_SERIES`,
    /// [`Config::with_metrics_max_series`] or to a value other than the default, it counts as
    /// configured ([`crate::metrics::configured_max_series`]).
    pub metrics_max_series: usize,
    /// Audit store URL: the store the process-wide auditor (`#[audit]`) opens on first use;
    /// `None`: `OBSERVA_AUDIT_URL`, else [`crate::audit::DEFAULT_URL`].
    pub audit_url: Option<String>,
    /// OTLP endpoint.
    pub otlp_endpoint: Option<String>,
    /// Trace sampling ratio.
    pub otlp_sample_ratio: f64,
    /// Colour on the console format (default: when stdout is a terminal).
    pub color: Option<bool>,
    /// Sentry DSN (feature `sentry`); `None`: Sentry is off and costs nothing.
    pub sentry_dsn: Option<String>,
    /// Sentry environment (default: [`Config::environment`]).
    pub sentry_environment: Option<String>,
    /// Sentry release (default: `<service_name>@<service_version>`).
    pub sentry_release: Option<String>,
    /// Share of error events sent to Sentry, in `[0, 1]`.
    pub sentry_sample_rate: f32,
    /// Backtrace on a panic's ERROR line: `Some(true)` always, `Some(false)` never, `None`:
    /// when `RUST_BACKTRACE` / `RUST_LIB_BACKTRACE` ask for one.
    pub panic_backtrace: Option<bool>,
    /// `metrics_max_series` was set (environment or builder), even to the default value.
    pub(crate) metrics_max_series_set: bool,
    pub(crate) writer: Option<SharedWriter>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("log_file", &self.log_file)
            .field("log_dir", &self.log_dir)
            .field("log_file_name", &self.log_file_name)
            .field("log_file_max_bytes", &self.log_file_max_bytes)
            .field("log_file_backups", &self.log_file_backups)
            .field("log_file_max_age", &self.log_file_max_age)
            .field("log_routes", &self.log_routes)
            .field("metrics_max_series", &self.metrics_max_series)
            // URLs may carry credentials.
            .field("audit_url", &self.audit_url.as_ref().map(|_| "[set]"))
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_ref().map(|_| "[set]"),
            )
            // A DSN carries the project key.
            .field("sentry_dsn", &self.sentry_dsn.as_ref().map(|_| "[set]"))
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            service_name: "unknown_service".to_owned(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            environment: "development".to_owned(),
            log_level: "info".to_owned(),
            log_format: Format::Json,
            log_file: None,
            log_dir: None,
            log_file_name: None,
            log_file_max_bytes: 10 * 1024 * 1024,
            log_file_backups: DEFAULT_LOG_FILE_BACKUPS,
            log_file_max_age: None,
            log_routes: Vec::new(),
            log_max_value_bytes: crate::encode::json::DEFAULT_MAX_VALUE_BYTES,
            log_max_line_bytes: crate::encode::json::DEFAULT_MAX_LINE_BYTES,
            log_queue_lines: 65_536,
            metrics_max_series: crate::metrics::DEFAULT_MAX_SERIES,
            metrics_max_series_set: false,
            audit_url: None,
            otlp_endpoint: None,
            otlp_sample_ratio: 1.0,
            color: None,
            sentry_dsn: None,
            sentry_environment: None,
            sentry_release: None,
            sentry_sample_rate: 1.0,
            panic_backtrace: None,
            writer: None,
        }
    }
}

/// One log file to open: the main file (no targets) or a routed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFilePlan {
    pub(crate) path: PathBuf,
    /// Targets routed to this file; empty for the main file.
    pub(crate) targets: Vec<String>,
}

/// A configuration value that was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable (or field) at fault.
    pub var: &'static str,
    /// What is wrong and what is accepted.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.var, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn shown(v: &str) -> String {
    // Rejected values are echoed bounded and neutralised.
    let mut out = Vec::new();
    crate::encode::json::write_console_str(&mut out, v, 64);
    String::from_utf8(out).unwrap_or_default()
}

impl Config {
    /// Defaults with a service name.
    pub fn new(service_name: impl Into<String>) -> Config {
        Config {
            service_name: service_name.into(),
            ..Config::default()
        }
    }

    /// Reads `OBSERVA_*` variables from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(
            std::env::vars().filter(|(k, _)| k.starts_with("OBSERVA_") || k == "SENTRY_DSN"),
        )
    }

    /// Reads `OBSERVA_*` variables from `vars` (for tests and embedding).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut c = Config::default();
        let mut sentry_dsn_fallback = None;
        for (k, v) in vars {
            let v = v.as_ref();
            match k.as_ref() {
                "OBSERVA_SERVICE_NAME" => c.service_name = nonempty("OBSERVA_SERVICE_NAME", v)?,
                "OBSERVA_SERVICE_VERSION" => {
                    c.service_version = nonempty("OBSERVA_SERVICE_VERSION", v)?
                }
                "OBSERVA_ENV" => c.environment = nonempty("OBSERVA_ENV", v)?,
                "OBSERVA_LOG_LEVEL" => {
                    tracing_subscriber::EnvFilter::try_new(v).map_err(|e| ConfigError {
                        var: "OBSERVA_LOG_LEVEL",
                        reason: format!(
                            "`{}` is not a filter ({e}); use a level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or directives like `info,hyper=warn`",
                            shown(v)
                        ),
                    })?;
                    c.log_level = v.to_owned();
                }
                "OBSERVA_LOG_FORMAT" => {
                    c.log_format = match v.to_ascii_lowercase().as_str() {
                        "json" => Format::Json,
                        "console" => Format::Console,
                        _ => {
                            return Err(ConfigError {
                                var: "OBSERVA_LOG_FORMAT",
                                reason: format!("expected `json` or `console`, got `{}`", shown(v)),
                            });
                        }
                    }
                }
                "OBSERVA_LOG_FILE" => c.log_file = Some(PathBuf::from(v)),
                "OBSERVA_LOG_DIR" => c.log_dir = Some(PathBuf::from(nonempty("OBSERVA_LOG_DIR", v)?)),
                "OBSERVA_LOG_FILE_NAME" => {
                    c.log_file_name = Some(nonempty("OBSERVA_LOG_FILE_NAME", v)?)
                }
                "OBSERVA_LOG_FILE_MAX_AGE" => {
                    c.log_file_max_age = Some(parse_age(v).ok_or_else(|| ConfigError {
                        var: "OBSERVA_LOG_FILE_MAX_AGE",
                        reason: format!(
                            "expected a duration above zero such as `30d`, `12h`, `90m`, `45s` or a number of days, got `{}`",
                            shown(v)
                        ),
                    })?)
                }
                "OBSERVA_LOG_ROUTES" => c.log_routes = parse_routes(v)?,
                "OBSERVA_LOG_FILE_MAX_BYTES" => {
                    c.log_file_max_bytes = number("OBSERVA_LOG_FILE_MAX_BYTES", v, 1024)?
                }
                "OBSERVA_LOG_FILE_BACKUPS" => {
                    c.log_file_backups = number("OBSERVA_LOG_FILE_BACKUPS", v, 0)? as usize
                }
                "OBSERVA_LOG_MAX_VALUE_BYTES" => {
                    c.log_max_value_bytes = number("OBSERVA_LOG_MAX_VALUE_BYTES", v, 16)? as usize
                }
                "OBSERVA_LOG_MAX_LINE_BYTES" => {
                    c.log_max_line_bytes = number(
                        "OBSERVA_LOG_MAX_LINE_BYTES",
                        v,
                        crate::encode::json::MIN_MAX_LINE_BYTES as u64,
                    )? as usize
                }
                "OBSERVA_LOG_QUEUE" => {
                    c.log_queue_lines = number("OBSERVA_LOG_QUEUE", v, 1)? as usize
                }
                "OBSERVA_METRICS_MAX_SERIES" => {
                    c.metrics_max_series = number("OBSERVA_METRICS_MAX_SERIES", v, 1)? as usize;
                    c.metrics_max_series_set = true;
                }
                "OBSERVA_AUDIT_URL" => c.audit_url = Some(nonempty("OBSERVA_AUDIT_URL", v)?),
                "OBSERVA_OTLP_ENDPOINT" => {
                    c.otlp_endpoint = Some(nonempty("OBSERVA_OTLP_ENDPOINT", v)?)
                }
                "OBSERVA_OTLP_SAMPLE_RATIO" => {
                    let r: f64 = v.trim().parse().map_err(|_| ConfigError {
                        var: "OBSERVA_OTLP_SAMPLE_RATIO",
                        reason: format!("expected a number in [0, 1], got `{}`", shown(v)),
                    })?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(ConfigError {
                            var: "OBSERVA_OTLP_SAMPLE_RATIO",
                            reason: format!("expected a number in [0, 1], got `{r}`"),
                        });
                    }
                    c.otlp_sample_ratio = r;
                }
                "OBSERVA_SENTRY_DSN" => c.sentry_dsn = Some(nonempty("OBSERVA_SENTRY_DSN", v)?),
                "SENTRY_DSN" => sentry_dsn_fallback = Some(nonempty("SENTRY_DSN", v)?),
                "OBSERVA_SENTRY_ENVIRONMENT" => {
                    c.sentry_environment = Some(nonempty("OBSERVA_SENTRY_ENVIRONMENT", v)?)
                }
                "OBSERVA_SENTRY_RELEASE" => {
                    c.sentry_release = Some(nonempty("OBSERVA_SENTRY_RELEASE", v)?)
                }
                "OBSERVA_SENTRY_SAMPLE_RATE" => {
                    let r: f32 = v.trim().parse().map_err(|_| ConfigError {
                        var: "OBSERVA_SENTRY_SAMPLE_RATE",
                        reason: format!("expected a number in [0, 1], got `{}`", shown(v)),
                    })?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(ConfigError {
                            var: "OBSERVA_SENTRY_SAMPLE_RATE",
                            reason: format!("expected a number in [0, 1], got `{r}`"),
                        });
                    }
                    c.sentry_sample_rate = r;
                }
                "OBSERVA_PANIC_BACKTRACE" => {
                    c.panic_backtrace = match v.trim() {
                        "1" | "true" | "full" => Some(true),
                        "0" | "false" => Some(false),
                        _ => {
                            return Err(ConfigError {
                                var: "OBSERVA_PANIC_BACKTRACE",
                                reason: format!("expected `1` or `0`, got `{}`", shown(v)),
                            });
                        }
                    }
                }
                // Read by other parts (audit, HTTP, redaction); unknown names are ignored so
                // that newer variables do not break older binaries.
                _ => {}
            }
        }
        if c.sentry_dsn.is_none() {
            c.sentry_dsn = sentry_dsn_fallback;
        }
        if c.is_production() {
            c.log_format = Format::Json;
        }
        Ok(c)
    }

    /// Sends server errors and panics to Sentry at `dsn` (feature `sentry`).
    pub fn with_sentry_dsn(mut self, dsn: impl Into<String>) -> Config {
        self.sentry_dsn = Some(dsn.into());
        self
    }

    /// Sets the cardinality cap (label sets per metric family, at least 1); a cap set here
    /// counts as configured, which metric labels with per-tenant values require.
    pub fn with_metrics_max_series(mut self, n: usize) -> Config {
        self.metrics_max_series = n.max(1);
        self.metrics_max_series_set = true;
        self
    }

    /// Always (`true`) or never (`false`) puts a bounded backtrace on a panic's ERROR line.
    pub fn with_panic_backtrace(mut self, on: bool) -> Config {
        self.panic_backtrace = Some(on);
        self
    }

    /// The log files to open. The main file: [`Config::log_file`] when set (a whole path),
    /// else `log_dir` / `log_file_name` when either is set. Routed files: in `log_dir`, else in
    /// the main file's directory, else in the working directory; routes naming the same file
    /// share it. File names are sanitised as [`crate::log::file::RotatingFile::open`] does.
    pub(crate) fn log_files(&self) -> Result<Vec<LogFilePlan>, ConfigError> {
        use crate::log::file::sanitize_file_name;
        let sanitized = |p: &std::path::Path| match p.file_name() {
            Some(n) => p.with_file_name(sanitize_file_name(&n.to_string_lossy())),
            None => p.join(sanitize_file_name("")),
        };
        let mut out: Vec<LogFilePlan> = Vec::new();
        let main = match (&self.log_file, &self.log_dir, &self.log_file_name) {
            (Some(p), _, _) => Some(p.clone()),
            (None, None, None) => None,
            (None, dir, name) => Some(dir.clone().unwrap_or_default().join(sanitize_file_name(
                name.as_deref().unwrap_or(DEFAULT_LOG_FILE_NAME),
            ))),
        };
        if let Some(p) = main {
            out.push(LogFilePlan {
                path: sanitized(&p),
                targets: Vec::new(),
            });
        }
        let dir = self
            .log_dir
            .clone()
            .or_else(|| {
                self.log_file
                    .as_ref()
                    .and_then(|p| p.parent())
                    .map(PathBuf::from)
            })
            .unwrap_or_default();
        for r in &self.log_routes {
            if !valid_target(&r.target) {
                return Err(ConfigError {
                    var: "OBSERVA_LOG_ROUTES",
                    reason: format!(
                        "`{}` is not a target (letters, digits, `_`, `-`, `.`, `::`)",
                        shown(&r.target)
                    ),
                });
            }
            let path = dir.join(sanitize_file_name(&r.file_name));
            match out.iter_mut().find(|f| f.path == path) {
                Some(f) if f.targets.is_empty() => {
                    return Err(ConfigError {
                        var: "OBSERVA_LOG_ROUTES",
                        reason: format!(
                            "route `{}` names the main log file `{}`; give it a file of its own",
                            shown(&r.target),
                            shown(&path.to_string_lossy())
                        ),
                    });
                }
                Some(f) => f.targets.push(r.target.clone()),
                None => out.push(LogFilePlan {
                    path,
                    targets: vec![r.target.clone()],
                }),
            }
        }
        Ok(out)
    }

    /// True when `environment` is `production` (or `prod`).
    pub fn is_production(&self) -> bool {
        matches!(
            self.environment.to_ascii_lowercase().as_str(),
            "production" | "prod"
        )
    }

    /// Sends the stdout sink's lines to `w` instead (tests, embedding).
    pub fn with_writer(mut self, w: impl Write + Send + 'static) -> Config {
        self.writer = Some(Arc::new(Mutex::new(Box::new(w))));
        self
    }

    /// Sets the filter directives.
    pub fn with_log_level(mut self, directives: impl Into<String>) -> Config {
        self.log_level = directives.into();
        self
    }

    /// Sets the stdout format.
    pub fn with_log_format(mut self, format: Format) -> Config {
        self.log_format = format;
        self
    }

    /// Sets the environment.
    pub fn with_environment(mut self, env: impl Into<String>) -> Config {
        self.environment = env.into();
        self
    }

    /// Writes the log files in `dir` (created when missing): the main file
    /// (`log_file_name`, default [`DEFAULT_LOG_FILE_NAME`], unless [`Config::log_file`] gives a
    /// whole path) and the routed files.
    pub fn with_log_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.log_dir = Some(dir.into());
        self
    }

    /// Names the main log file in the log directory.
    pub fn with_log_file_name(mut self, name: impl Into<String>) -> Config {
        self.log_file_name = Some(name.into());
        self
    }

    /// Removes rotated files older than `age` (by their last write) at start and at every
    /// rotation.
    pub fn with_log_file_max_age(mut self, age: Duration) -> Config {
        self.log_file_max_age = Some(age);
        self
    }

    /// Writes lines of `target` (and its children) to `file_name` in the log directory instead
    /// of the main file (see [`LogRoute`]).
    pub fn with_log_route(
        mut self,
        target: impl Into<String>,
        file_name: impl Into<String>,
    ) -> Config {
        self.log_routes.push(LogRoute {
            target: target.into(),
            file_name: file_name.into(),
        });
        self
    }

    /// Sets the audit store URL (`sqlite:PATH`, `postgres://...`): the store the process-wide
    /// auditor opens (what `#[audit]` writes to).
    pub fn with_audit_url(mut self, url: impl Into<String>) -> Config {
        self.audit_url = Some(url.into());
        self
    }

    /// Sets the service version.
    pub fn with_service_version(mut self, version: impl Into<String>) -> Config {
        self.service_version = version.into();
        self
    }

    /// Adds a rotated JSONL file sink at `path` (a whole path: it wins over `log_dir` /
    /// `log_file_name` for the main file), rotated at `max_bytes`, keeping `backups` files.
    pub fn with_log_file(
        mut self,
        path: impl Into<PathBuf>,
        max_bytes: u64,
        backups: usize,
    ) -> Config {
        self.log_file = Some(path.into());
        self.log_file_max_bytes = max_bytes;
        self.log_file_backups = backups;
        self
    }
}

fn nonempty(var: &'static str, v: &str) -> Result<String, ConfigError> {
    if v.trim().is_empty() {
        return Err(ConfigError {
            var,
            reason: "is set but empty; unset it or give a value".to_owned(),
        });
    }
    Ok(v.to_owned())
}

/// `30d`, `12h`, `90m`, `45s`, or a bare number of days; above zero.
pub(crate) fn parse_age(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "" | "d" => n.checked_mul(86_400)?,
        "h" => n.checked_mul(3_600)?,
        "m" => n.checked_mul(60)?,
        "s" => n,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// `target=file,target2=file2,target3` (a bare target gets `<target>.jsonl`).
fn parse_routes(v: &str) -> Result<Vec<LogRoute>, ConfigError> {
    let bad = |why: String| ConfigError {
        var: "OBSERVA_LOG_ROUTES",
        reason: format!(
            "{why}; expected `target=file_name` pairs separated by commas, such as `publish_sync=publish_sync.log,webhooks`"
        ),
    };
    let mut routes = Vec::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (target, file) = match item.split_once('=') {
            Some((t, f)) => (t.trim(), f.trim().to_owned()),
            None => (item, format!("{item}.jsonl")),
        };
        if !valid_target(target) {
            return Err(bad(format!("`{}` is not a target", shown(target))));
        }
        if file.is_empty() {
            return Err(bad(format!("no file name for `{}`", shown(target))));
        }
        routes.push(LogRoute {
            target: target.to_owned(),
            file_name: file,
        });
    }
    if routes.is_empty() {
        return Err(bad("is set but names no target".to_owned()));
    }
    Ok(routes)
}

/// A target: letters, digits, `_`, `-`, `.` and `::` separators.
pub(crate) fn valid_target(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn number(var: &'static str, v: &str, min: u64) -> Result<u64, ConfigError> {
    match v.trim().parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(ConfigError {
            var,
            reason: format!("expected a whole number >= {min}, got `{}`", shown(v)),
        }),
    }
}

/// A [`Write`] into a shared in-memory buffer (handy for tests and examples).
#[derive(Clone, Debug, Default)]
pub struct MemoryWriter(pub Arc<Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// A new empty buffer.
    pub fn new() -> MemoryWriter {
        MemoryWriter::default()
    }

    /// The text written so far.
    pub fn contents(&self) -> String {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vars() {
        let c = Config::from_vars([
            ("OBSERVA_SERVICE_NAME", "billing"),
            ("OBSERVA_LOG_FORMAT", "console"),
            ("OBSERVA_LOG_LEVEL", "debug,hyper=warn"),
            ("OBSERVA_METRICS_MAX_SERIES", "50"),
            ("OBSERVA_LOG_MAX_LINE_BYTES", "20000"),
        ])
        .unwrap();
        assert_eq!(c.log_max_line_bytes, 20000);
        let e = Config::from_vars([("OBSERVA_LOG_MAX_LINE_BYTES", "100")]).unwrap_err();
        assert_eq!(e.var, "OBSERVA_LOG_MAX_LINE_BYTES");
        assert_eq!(c.service_name, "billing");
        assert_eq!(c.log_format, Format::Console);
        assert_eq!(c.metrics_max_series, 50);
    }

    #[test]
    fn rejects_bad_values_with_the_variable_name() {
        let e = Config::from_vars([("OBSERVA_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.var, "OBSERVA_LOG_FORMAT");
        assert!(e.to_string().contains("expected `json` or `console`"));
        let e = Config::from_vars([("OBSERVA_LOG_LEVEL", "loud=??")]).unwrap_err();
        assert_eq!(e.var, "OBSERVA_LOG_LEVEL");
        let e = Config::from_vars([("OBSERVA_OTLP_SAMPLE_RATIO", "2")]).unwrap_err();
        assert_eq!(e.var, "OBSERVA_OTLP_SAMPLE_RATIO");
        let e = Config::from_vars([("OBSERVA_LOG_FORMAT", "\x1b[31mx")]).unwrap_err();
        assert!(!e.to_string().contains('\x1b'));
    }

    #[test]
    fn sentry_vars() {
        let c = Config::from_vars([
            ("SENTRY_DSN", "http://k@127.0.0.1:1/2"),
            ("OBSERVA_SENTRY_SAMPLE_RATE", "0.25"),
            ("OBSERVA_PANIC_BACKTRACE", "1"),
        ])
        .unwrap();
        assert_eq!(c.sentry_dsn.as_deref(), Some("http://k@127.0.0.1:1/2"));
        assert_eq!(c.sentry_sample_rate, 0.25);
        assert_eq!(c.panic_backtrace, Some(true));
        // `OBSERVA_SENTRY_DSN` wins whatever the order.
        let c = Config::from_vars([
            ("OBSERVA_SENTRY_DSN", "http://a@127.0.0.1:1/2"),
            ("SENTRY_DSN", "http://b@127.0.0.1:1/2"),
        ])
        .unwrap();
        assert_eq!(c.sentry_dsn.as_deref(), Some("http://a@127.0.0.1:1/2"));
        let e = Config::from_vars([("OBSERVA_SENTRY_SAMPLE_RATE", "3")]).unwrap_err();
        assert_eq!(e.var, "OBSERVA_SENTRY_SAMPLE_RATE");
        assert!(!format!("{c:?}").contains("127.0.0.1"));
    }

    #[test]
    fn log_file_settings_and_their_precedence() {
        let plan = |c: &Config| {
            c.log_files()
                .unwrap()
                .into_iter()
                .map(|p| (p.path, p.targets))
                .collect::<Vec<_>>()
        };
        // Defaults: no file; backups 10.
        assert!(plan(&Config::default()).is_empty());
        assert_eq!(Config::default().log_file_backups, 10);
        // The directory alone: `app.jsonl` in it.
        let c = Config::from_vars([("OBSERVA_LOG_DIR", "/var/log/svc")]).unwrap();
        assert_eq!(
            plan(&c),
            [(PathBuf::from("/var/log/svc/app.jsonl"), vec![])]
        );
        // The name alone: in the working directory, sanitised.
        let c = Config::from_vars([("OBSERVA_LOG_FILE_NAME", "my api.jsonl")]).unwrap();
        assert_eq!(plan(&c), [(PathBuf::from("my_api.jsonl"), vec![])]);
        // `OBSERVA_LOG_FILE` wins for the main file; routes go to `OBSERVA_LOG_DIR`.
        let c = Config::from_vars([
            ("OBSERVA_LOG_FILE", "/srv/main.jsonl"),
            ("OBSERVA_LOG_DIR", "/var/log/svc"),
            ("OBSERVA_LOG_FILE_NAME", "ignored.jsonl"),
            (
                "OBSERVA_LOG_ROUTES",
                " publish_sync=sync.log, wordpress_api , webhooks=sync.log",
            ),
        ])
        .unwrap();
        assert_eq!(
            plan(&c),
            [
                (PathBuf::from("/srv/main.jsonl"), vec![]),
                (
                    PathBuf::from("/var/log/svc/sync.log"),
                    vec!["publish_sync".to_owned(), "webhooks".to_owned()]
                ),
                (
                    PathBuf::from("/var/log/svc/wordpress_api.jsonl"),
                    vec!["wordpress_api".to_owned()]
                ),
            ]
        );
        // Without a directory, routes go beside the main file.
        let c = Config::default()
            .with_log_file("/srv/logs/main.jsonl", 4096, 2)
            .with_log_route("webhooks", "hooks.log");
        assert_eq!(
            plan(&c)[1],
            (
                PathBuf::from("/srv/logs/hooks.log"),
                vec!["webhooks".to_owned()]
            )
        );
        // A route on the main file, or a bad target, is refused.
        let c = Config::default()
            .with_log_dir("/x")
            .with_log_route("webhooks", "app.jsonl");
        assert_eq!(c.log_files().unwrap_err().var, "OBSERVA_LOG_ROUTES");
        let c = Config::default().with_log_route("bad target", "b.log");
        assert!(c.log_files().is_err());
        for bad in ["", " , ", "=x.log", "a b=x.log", "webhooks="] {
            let e = Config::from_vars([("OBSERVA_LOG_ROUTES", bad)]).unwrap_err();
            assert_eq!(e.var, "OBSERVA_LOG_ROUTES", "{bad:?}");
        }
        assert_eq!(
            Config::from_vars([("OBSERVA_LOG_DIR", " ")])
                .unwrap_err()
                .var,
            "OBSERVA_LOG_DIR"
        );
    }

    #[test]
    fn max_age_units() {
        let age = |v: &str| {
            Config::from_vars([("OBSERVA_LOG_FILE_MAX_AGE", v)])
                .map(|c| c.log_file_max_age.unwrap().as_secs())
        };
        assert_eq!(age("30d"), Ok(30 * 86_400));
        assert_eq!(age("7"), Ok(7 * 86_400));
        assert_eq!(age("12h"), Ok(12 * 3_600));
        assert_eq!(age("90m"), Ok(90 * 60));
        assert_eq!(age(" 45s "), Ok(45));
        for bad in ["0", "0d", "d", "1w", "-1d", "1.5d", ""] {
            let e = age(bad).unwrap_err();
            assert_eq!(e.var, "OBSERVA_LOG_FILE_MAX_AGE", "{bad:?}");
            assert!(e.reason.contains("`30d`"), "{}", e.reason);
        }
        assert_eq!(Config::default().log_file_max_age, None);
    }

    #[test]
    fn production_forces_json() {
        let c = Config::from_vars([
            ("OBSERVA_ENV", "production"),
            ("OBSERVA_LOG_FORMAT", "console"),
        ])
        .unwrap();
        assert_eq!(c.log_format, Format::Json);
        assert!(c.is_production());
    }
}
