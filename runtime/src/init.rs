//! [`init`]: installs the log pipeline, the metrics settings and the global subscriber.

use crate::config::{Config, LogFilePlan};
use crate::log::file::RotatingFile;
use crate::log::writer::{self, WriterGuard};
use crate::log::{Format, Layer, Route, Sink};
use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Subscriber;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context as FilterContext, Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

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
                "observa is already installed in this process (by `observa::init` or `observa::layer`); install it once and keep its guard",
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
    #[cfg(feature = "sentry")]
    sentry: Option<crate::sentry::Installed>,
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
            crate::trace::shutdown();
            let _ = p.shutdown();
        }
        // Queued Sentry events get a bounded time to leave (never blocks on a dead endpoint
        // longer than that).
        #[cfg(feature = "sentry")]
        if let Some(s) = self.sentry.take() {
            s.close();
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

/// The level filter of observa's pipeline: the static `Targets` filter for plain directives
/// (`info`, `info,hyper=warn`: no per-span bookkeeping), `EnvFilter` for directives that need it
/// (span or field filters).
enum LevelFilter {
    Targets(tracing_subscriber::filter::Targets),
    Env(Box<tracing_subscriber::EnvFilter>),
}

impl LevelFilter {
    fn parse(directives: &str) -> Result<LevelFilter, InitError> {
        match directives.parse::<tracing_subscriber::filter::Targets>() {
            Ok(t) => Ok(LevelFilter::Targets(t)),
            Err(_) => tracing_subscriber::EnvFilter::try_new(directives)
                .map(|f| LevelFilter::Env(Box::new(f)))
                .map_err(|e| {
                    InitError::Config(crate::config::ConfigError {
                        var: "OBSERVA_LOG_LEVEL",
                        reason: format!("not a filter: {e}"),
                    })
                }),
        }
    }

    /// As a global filter (the `init` path).
    fn into_layer(self) -> Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> {
        match self {
            LevelFilter::Targets(t) => Box::new(t),
            LevelFilter::Env(e) => e,
        }
    }

    /// As a per-layer filter (the [`layer`] path).
    fn into_filter<S>(self) -> Box<dyn Filter<S> + Send + Sync>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match self {
            LevelFilter::Targets(t) => Box::new(t),
            LevelFilter::Env(e) => Box::new(*e),
        }
    }
}

/// Opens one log file of the plan: its directory first (created when missing; a failure is
/// noted once per directory), then the file, with the configured rotation and retention.
fn open_log_file(
    plan: &LogFilePlan,
    config: &Config,
    notices: &mut Notices,
) -> std::io::Result<RotatingFile> {
    let path = plan.path.as_path();
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o750);
        }
        if let Err(e) = b.create(dir) {
            if !notices.dir_errors.iter().any(|(d, _)| d == dir) {
                notices.dir_errors.push((
                    dir.to_path_buf(),
                    std::io::Error::new(e.kind(), e.to_string()),
                ));
            }
            return Err(e);
        }
    }
    let f = RotatingFile::open(path, config.log_file_max_bytes, config.log_file_backups)?;
    let f = match config.log_file_max_age {
        Some(age) => f.with_max_age(age),
        None => f,
    };
    notices.opened.push(OpenedFile {
        path: f.path().to_path_buf(),
        max_bytes: f.max_bytes(),
        backups: f.backups(),
        max_age: config.log_file_max_age,
        targets: plan.targets.clone(),
    });
    Ok(f)
}

/// A log file that opened, for the start-up line that states the resolved sink.
struct OpenedFile {
    path: PathBuf,
    max_bytes: u64,
    backups: usize,
    max_age: Option<std::time::Duration>,
    /// Empty: the main file.
    targets: Vec<String>,
}

/// `2d`, `12h`, `90m`, `45s` (the largest unit that divides it), or `none`.
fn age_text(age: Option<std::time::Duration>) -> String {
    let Some(age) = age else {
        return "none".to_owned();
    };
    let s = age.as_secs();
    match s {
        _ if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        _ if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        _ if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// Lines owed once the pipeline is installed (the resolved file sinks, a sink that fell back, a
/// refused key).
#[derive(Default)]
struct Notices {
    opened: Vec<OpenedFile>,
    dir_errors: Vec<(PathBuf, std::io::Error)>,
    file_errors: Vec<(PathBuf, std::io::Error)>,
    redact_key_rejected: bool,
}

impl Notices {
    fn emit(&mut self) {
        if std::mem::take(&mut self.redact_key_rejected) {
            tracing::warn!(
                target: "observa",
                event = "observa.redact_key_rejected",
                "OBSERVA_REDACT_KEY is set but unusable (too short?); fingerprints use a random per-process key"
            );
        }
        // The facts are in the message too: production's allowlist keeps the message (and
        // `path`, `error`) but filters the other keys.
        for (dir, e) in std::mem::take(&mut self.dir_errors) {
            tracing::warn!(
                target: "observa",
                event = "observa.log_dir_unavailable",
                dir = %dir.display(),
                error = %e,
                "log directory {} could not be created ({e}); its files are off and every line goes to stdout",
                dir.display()
            );
        }
        for (path, e) in std::mem::take(&mut self.file_errors) {
            tracing::error!(
                target: "observa",
                event = "observa.log_file_unavailable",
                path = %path.display(),
                error = %e,
                "log file could not be opened; logging to stdout only"
            );
        }
        for f in std::mem::take(&mut self.opened) {
            let targets = if f.targets.is_empty() {
                "*".to_owned()
            } else {
                f.targets.join(",")
            };
            tracing::info!(
                target: "observa",
                event = "observa.log_sink",
                path = %f.path.display(),
                max_bytes = f.max_bytes,
                backups = f.backups as u64,
                max_age = %age_text(f.max_age),
                targets = %targets,
                "log file sink: path={} max_bytes={} backups={} max_age={} targets={targets}",
                f.path.display(),
                f.max_bytes,
                f.backups,
                age_text(f.max_age)
            );
        }
    }
}

/// The pieces both [`init`] and [`layer`] are built from: the level filter, the log layer, and
/// the rest (exporters, writer guards, settings).
struct Pieces {
    #[cfg(feature = "otlp")]
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    /// Installed by [`Pieces::settle`], once the process is claimed.
    #[cfg(feature = "otlp")]
    own: Option<crate::trace::OwnPipeline>,
    #[cfg(feature = "sentry")]
    sentry: Option<crate::sentry::Installed>,
    workers: Vec<WriterGuard>,
    counters: Vec<writer::LineWriter>,
    notices: Notices,
    runtime: RuntimeInfo,
    max_series: usize,
    max_series_set: bool,
    panic_backtrace: Option<bool>,
    audit_url: Option<String>,
}

impl Pieces {
    /// Builds every piece for `config` (sinks started, nothing global touched).
    fn build(config: &Config) -> Result<(LevelFilter, Layer, Pieces), InitError> {
        let filter = LevelFilter::parse(&config.log_level)?;
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
            route: Route::All,
        });
        let mut notices = Notices::default();
        let mut routes = Vec::new();
        for (i, plan) in config.log_files()?.into_iter().enumerate() {
            let route = if plan.targets.is_empty() {
                Route::Unrouted
            } else {
                // Kept even when the file cannot be opened: the target's lines then go to stdout
                // only, never to the main file.
                routes.extend(plan.targets.iter().map(|t| (t.clone(), i)));
                Route::Routed(i)
            };
            match open_log_file(&plan, config, &mut notices) {
                Ok(f) => {
                    let (w, g) = writer::spawn(Box::new(f), cap, "observa-log-file")
                        .map_err(InitError::Io)?;
                    counters.push(w.clone());
                    workers.push(g);
                    sinks.push(Sink {
                        format: Format::Json,
                        writer: w,
                        color: false,
                        route,
                    });
                }
                Err(e) => {
                    // Fallback: the stdout sink carries on with every line, and says so once
                    // installed.
                    crate::metrics::internal_error("log_file");
                    notices.file_errors.push((plan.path.clone(), e));
                }
            }
        }
        crate::encode::json::set_limits(config.log_max_value_bytes, config.log_max_line_bytes);
        let log = Layer::new(
            sinks,
            routes,
            config.log_max_value_bytes,
            config.log_max_line_bytes,
            production,
        );
        #[cfg(feature = "otlp")]
        let (tracer, own) = match crate::trace::provider(config)? {
            Some((t, o)) => (Some(t), Some(o)),
            None => (None, None),
        };
        #[cfg(feature = "sentry")]
        let sentry = crate::sentry::install(config)?;
        Ok((
            filter,
            log,
            Pieces {
                #[cfg(feature = "otlp")]
                tracer,
                #[cfg(feature = "otlp")]
                own,
                #[cfg(feature = "sentry")]
                sentry,
                workers,
                counters,
                notices,
                runtime: RuntimeInfo {
                    service_name: config.service_name.clone(),
                    service_version: config.service_version.clone(),
                    environment: config.environment.clone(),
                    production,
                },
                max_series: config.metrics_max_series,
                max_series_set: config.metrics_max_series_set
                    || config.metrics_max_series != crate::metrics::DEFAULT_MAX_SERIES,
                panic_backtrace: config.panic_backtrace,
                audit_url: config.audit_url.clone(),
            },
        ))
    }

    /// Process-wide settings, once the pipeline is claimed.
    fn settle(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(own) = self.own.take() {
            crate::trace::install_own(own);
        }
        crate::log::install_drop_counters(std::mem::take(&mut self.counters));
        if self.max_series_set {
            crate::metrics::set_max_series(self.max_series);
        } else {
            crate::metrics::set_default_max_series(self.max_series);
        }
        let _ = RUNTIME.set(self.runtime.clone());
        // The process-wide auditor (opened on first use) takes its store from the Config and its
        // service name and version from the runtime info.
        crate::audit::set_configured_url(self.audit_url.take());
        #[cfg(feature = "sentry")]
        if let Some(s) = &self.sentry {
            s.activate();
        }
        crate::failure::set_backtrace(self.panic_backtrace);
        crate::failure::install_panic_hook();
        // Choose the fingerprint key now (installed, `OBSERVA_REDACT_KEY`, or random per
        // process) so the first redacted line does not pay for it, and say when the variable
        // was refused.
        if let crate::redact::KeySource::Random {
            env_rejected: true, ..
        } = crate::redact::init_fingerprint_key()
        {
            self.notices.redact_key_rejected = true;
        }
    }
}

/// Claims the process for observa's pipeline (one per process: its sinks, drop counters and
/// settings are process-wide).
fn claim() -> Result<(), InitError> {
    INSTALLED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .map(|_| ())
        .map_err(|_| InitError::AlreadyInitialized)
}

/// Installs observa: the log pipeline (stdout, optional rotated files, main and per target), the filter, the metrics
/// settings, the OTLP exporter and Sentry when configured, as the global `tracing` subscriber.
/// Returns a guard that flushes on drop.
///
/// Fails, with nothing installed, on a rejected configuration value, on a second call (or a call
/// after [`layer`]), or when another global subscriber exists. To run observa beside other
/// layers in a registry of your own, use [`layer`] instead.
pub fn init(config: Config) -> Result<Guard, InitError> {
    if INSTALLED.load(Ordering::Acquire) {
        return Err(InitError::AlreadyInitialized);
    }
    let (filter, log, mut p) = Pieces::build(&config)?;
    #[cfg(feature = "otlp")]
    let otel = p.tracer.as_ref().map(crate::trace::layer);
    #[cfg(not(feature = "otlp"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    #[cfg(feature = "sentry")]
    let sentry = p.sentry.as_ref().map(crate::sentry::Installed::layer);
    #[cfg(not(feature = "sentry"))]
    let sentry: Option<tracing_subscriber::layer::Identity> = None;
    // The level filter is global here: nothing else is in the stack, and a global filter costs
    // less per event than a per-layer one.
    let subscriber = tracing_subscriber::registry()
        .with(filter.into_layer())
        .with(otel)
        .with(sentry)
        .with(log);
    claim()?;
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        INSTALLED.store(false, Ordering::Release);
        return Err(InitError::SubscriberAlreadySet);
    }
    crate::callsite::register_all();
    p.settle();
    p.notices.emit();
    Ok(p.into_guard())
}

/// observa's pipeline as a `tracing_subscriber::Layer` for a registry of your own, beside any
/// other layer (`sentry-tracing`, `console-subscriber`, a second `fmt` layer, your own
/// OpenTelemetry layer):
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tracing_subscriber::prelude::*;
///
/// let (observa_layer, _guard) = observa::layer(observa::Config::from_env()?)?;
/// tracing_subscriber::registry()
///     .with(observa_layer)
///     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::WARN))
///     .init();
/// # Ok(())
/// # }
/// ```
///
/// It behaves as [`init`] does (same lines: context on every line, key filter, production
/// allowlist, drops counted; the OTLP exporter and Sentry when configured) with one difference
/// that composition requires: `OBSERVA_LOG_LEVEL` is a *per-layer* filter, so it decides what
/// observa writes and exports, not what the other layers see. Spans are created only when some
/// layer wants them.
///
/// One per process, like [`init`]: a second call, or `init` after it, fails with
/// [`InitError::AlreadyInitialized`]. The guard flushes the writers (and the exporters) on drop;
/// keep it until the end of `main`. The layer type is opaque; box it
/// (`Box<dyn Layer<S> + Send + Sync>`) to store it.
pub fn layer<S>(
    config: Config,
) -> Result<
    (
        impl tracing_subscriber::Layer<S> + Send + Sync + 'static,
        Guard,
    ),
    InitError,
>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    if INSTALLED.load(Ordering::Acquire) {
        return Err(InitError::AlreadyInitialized);
    }
    let (level, log, mut p) = Pieces::build(&config)?;
    claim()?;
    crate::callsite::register_all();
    p.settle();
    #[cfg(feature = "otlp")]
    let otel = p.tracer.as_ref().map(crate::trace::layer::<S>);
    #[cfg(not(feature = "otlp"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    #[cfg(feature = "sentry")]
    let sentry = p.sentry.as_ref().map(crate::sentry::Installed::layer);
    #[cfg(not(feature = "sentry"))]
    let sentry: Option<tracing_subscriber::layer::Identity> = None;
    let filter = PipelineFilter {
        level: level.into_filter::<S>(),
    };
    let notices = NoticeLayer(std::sync::Mutex::new(std::mem::take(&mut p.notices)));
    let stack = log
        .and_then(otel)
        .and_then(sentry)
        .and_then(notices)
        .with_filter(filter);
    Ok((stack, p.into_guard()))
}

/// The per-layer filter of [`layer`]: the level directives, and no spans unless an exporter
/// consumes them (observa's log layer reads the context, not spans); never the span of an
/// `#[observed]` call, which observa records itself ([`crate::trace::exported_span`]).
struct PipelineFilter<S> {
    level: Box<dyn Filter<S> + Send + Sync>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Filter<S> for PipelineFilter<S> {
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &FilterContext<'_, S>) -> bool {
        (!meta.is_span() || crate::trace::exported_span(meta)) && self.level.enabled(meta, cx)
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        if meta.is_span() && !crate::trace::exported_span(meta) {
            tracing_core::subscriber::Interest::never()
        } else {
            self.level.callsite_enabled(meta)
        }
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, cx: &FilterContext<'_, S>) -> bool {
        self.level.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<tracing_subscriber::filter::LevelFilter> {
        self.level.max_level_hint()
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        cx: FilterContext<'_, S>,
    ) {
        self.level.on_new_span(attrs, id, cx)
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        cx: FilterContext<'_, S>,
    ) {
        self.level.on_record(id, values, cx)
    }

    fn on_enter(&self, id: &tracing::span::Id, cx: FilterContext<'_, S>) {
        self.level.on_enter(id, cx)
    }

    fn on_exit(&self, id: &tracing::span::Id, cx: FilterContext<'_, S>) {
        self.level.on_exit(id, cx)
    }

    fn on_close(&self, id: tracing::span::Id, cx: FilterContext<'_, S>) {
        self.level.on_close(id, cx)
    }
}

/// Emits the start-up notices once the layer is part of a dispatcher.
struct NoticeLayer(std::sync::Mutex<Notices>);

impl<S: Subscriber> tracing_subscriber::Layer<S> for NoticeLayer {
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        let mut n = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        tracing::dispatcher::with_default(dispatch, || n.emit());
    }
}

impl Pieces {
    fn into_guard(self) -> Guard {
        Guard {
            workers: self.workers,
            #[cfg(feature = "otlp")]
            tracer: self.tracer,
            #[cfg(feature = "sentry")]
            sentry: self.sentry,
        }
    }
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
