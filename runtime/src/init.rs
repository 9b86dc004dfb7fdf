//! [`init`]: installs the log pipeline, the metrics settings and the global subscriber.

use crate::config::Config;
use crate::log::writer::{self, WriterGuard};
use crate::log::{Format, Layer, Sink};
use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::layer::SubscriberExt;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static RUNTIME: OnceLock<RuntimeInfo> = OnceLock::new();

/// What the installed runtime knows about the process (read by audit, HTTP and exporters).
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// Service name.
    pub service_name: String,
    /// Service version.
    pub service_version: String,
    /// Environment.
    pub environment: String,
    /// `OBSERVA_ENV=production`.
    pub production: bool,
}

/// The installed runtime's settings, if [`init`] ran.
pub fn runtime_info() -> Option<&'static RuntimeInfo> {
    RUNTIME.get()
}

/// Why [`init`] failed. Nothing was installed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// A configuration value was rejected.
    Config(crate::config::ConfigError),
    /// `init` already ran in this process (the guard does not uninstall: `tracing`'s global
    /// subscriber is set once).
    AlreadyInitialized,
    /// Another global `tracing` subscriber is already installed.
    SubscriberAlreadySet,
    /// A sink could not be started.
    Io(std::io::Error),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Config(e) => write!(f, "observa configuration: {e}"),
            InitError::AlreadyInitialized => f.write_str(
                "observa is already initialised in this process; call `observa::init` once and keep its guard",
            ),
            InitError::SubscriberAlreadySet => f.write_str(
                "another global `tracing` subscriber is installed; remove it or use `observa::init` alone",
            ),
            InitError::Io(e) => write!(f, "observa could not start a sink: {e}"),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Config(e) => Some(e),
            InitError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::config::ConfigError> for InitError {
    fn from(e: crate::config::ConfigError) -> InitError {
        InitError::Config(e)
    }
}

/// Keeps the runtime's background writers alive; flushes every queued line when dropped.
#[must_use = "dropping the guard flushes and stops the log writers: keep it until the end of `main`"]
pub struct Guard {
    workers: Vec<WriterGuard>,
    #[cfg(feature = "otlp")]
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("writers", &self.workers.len())
            .finish()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Spans first (their export may log), then the log writers: a writer guard's drop
        // drains its buffer.
        #[cfg(feature = "otlp")]
        if let Some(p) = self.tracer.take() {
            let _ = p.shutdown();
        }
        // The audit trail records its own stop (`audit.stopped` + a closing checkpoint) when it
        // was opened in this process; a no-op otherwise.
        if let Err(e) = crate::audit::shutdown() {
            tracing::error!(
                target: "observa",
                event = "observa.audit_shutdown_failed",
                error = %e,
                "the audit trail could not be closed cleanly"
            );
        }
        self.workers.clear();
    }
}

/// Installs observa: the log pipeline (stdout, optional rotated file), the filter, the metrics
/// settings, as the global `tracing` subscriber. Returns a guard that flushes on drop.
///
/// Fails, with nothing installed, on a rejected configuration value, on a second call, or when
/// another global subscriber exists.
pub fn init(config: Config) -> Result<Guard, InitError> {
    if INSTALLED.load(Ordering::Acquire) {
        return Err(InitError::AlreadyInitialized);
    }
    // Plain directives (`info`, `info,hyper=warn`) use the static `Targets` filter, which does
    // no per-span bookkeeping; directives that need it (span or field filters) use `EnvFilter`.
    let filter: Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync> =
        match config
            .log_level
            .parse::<tracing_subscriber::filter::Targets>()
        {
            Ok(t) => Box::new(t),
            Err(_) => Box::new(
                tracing_subscriber::EnvFilter::try_new(&config.log_level).map_err(|e| {
                    InitError::Config(crate::config::ConfigError {
                        var: "OBSERVA_LOG_LEVEL",
                        reason: format!("not a filter: {e}"),
                    })
                })?,
            ),
        };
    let production = config.is_production();
    let mut workers = Vec::new();
    let mut counters = Vec::new();
    let mut sinks = Vec::new();
    // The queue bound is given in lines; the buffer holds about 512 bytes per line.
    let cap = config.log_queue_lines.saturating_mul(512);
    let (stdout_writer, guard) = match &config.writer {
        Some(w) => writer::spawn(Box::new(SharedWrite(w.clone())), cap, "observa-log"),
        None => writer::spawn(Box::new(std::io::stdout()), cap, "observa-log"),
    }
    .map_err(InitError::Io)?;
    counters.push(stdout_writer.clone());
    workers.push(guard);
    let format = if production {
        Format::Json
    } else {
        config.log_format
    };
    sinks.push(Sink {
        format,
        writer: stdout_writer,
        color: config
            .color
            .unwrap_or_else(|| config.writer.is_none() && std::io::stdout().is_terminal()),
    });
    let mut file_error = None;
    if let Some(path) = &config.log_file {
        match crate::log::file::RotatingFile::open(
            path,
            config.log_file_max_bytes,
            config.log_file_backups,
        ) {
            Ok(f) => {
                let (w, g) =
                    writer::spawn(Box::new(f), cap, "observa-log-file").map_err(InitError::Io)?;
                counters.push(w.clone());
                workers.push(g);
                sinks.push(Sink {
                    format: Format::Json,
                    writer: w,
                    color: false,
                });
            }
            Err(e) => {
                // Fallback: the stdout sink carries on alone, and says so once installed.
                crate::metrics::internal_error("log_file");
                file_error = Some(e);
            }
        }
    }
    crate::log::json::set_limits(config.log_max_value_bytes, config.log_max_line_bytes);
    let layer = Layer::new(
        sinks,
        config.log_max_value_bytes,
        config.log_max_line_bytes,
        production,
    );
    #[cfg(feature = "otlp")]
    let tracer = crate::trace::provider(&config)?;
    #[cfg(feature = "otlp")]
    let otel = tracer.as_ref().map(crate::trace::layer);
    #[cfg(not(feature = "otlp"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(layer);
    if INSTALLED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(InitError::AlreadyInitialized);
    }
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        INSTALLED.store(false, Ordering::Release);
        return Err(InitError::SubscriberAlreadySet);
    }
    crate::log::install_drop_counters(counters);
    crate::metrics::set_max_series(config.metrics_max_series);
    let _ = RUNTIME.set(RuntimeInfo {
        service_name: config.service_name.clone(),
        service_version: config.service_version.clone(),
        environment: config.environment.clone(),
        production,
    });
    // Choose the fingerprint key now (installed, `OBSERVA_REDACT_KEY`, or random per process)
    // so the first redacted line does not pay for it, and say when the variable was refused.
    if let crate::redact::KeySource::Random {
        env_rejected: true, ..
    } = crate::redact::init_fingerprint_key()
    {
        tracing::warn!(
            target: "observa",
            event = "observa.redact_key_rejected",
            "OBSERVA_REDACT_KEY is set but unusable (too short?); fingerprints use a random per-process key"
        );
    }
    if let Some(e) = file_error {
        tracing::error!(
            target: "observa",
            event = "observa.log_file_unavailable",
            error = %e,
            "log file could not be opened; logging to stdout only"
        );
    }
    Ok(Guard {
        workers,
        #[cfg(feature = "otlp")]
        tracer,
    })
}

struct SharedWrite(crate::config::SharedWriter);

impl std::io::Write for SharedWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

/// `init(Config::from_env()?)`.
pub fn init_from_env() -> Result<Guard, InitError> {
    init(Config::from_env()?)
}
