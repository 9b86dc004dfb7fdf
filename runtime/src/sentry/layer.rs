//! The `tracing` layer that turns failure lines into Sentry events and other lines into
//! breadcrumbs (see the module docs of [`crate::sentry`]).

use super::{InFlight, MAX_BREADCRUMBS, Pending, requests};
use crate::completion::COMPLETION;
use sentry::protocol::{Breadcrumb, Event, Exception, Map, Value};
use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;

/// Longest text taken from one field.
const MAX_FIELD: usize = 4096;

pub(crate) struct SentryLayer;

impl fmt::Debug for SentryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentryLayer").finish_non_exhaustive()
    }
}

impl SentryLayer {
    pub(crate) fn new() -> SentryLayer {
        SentryLayer
    }
}

pub(crate) fn level(l: &Level) -> sentry::Level {
    match *l {
        Level::ERROR => sentry::Level::Error,
        Level::WARN => sentry::Level::Warning,
        Level::INFO => sentry::Level::Info,
        _ => sentry::Level::Debug,
    }
}

fn bounded(s: &str) -> String {
    crate::encode::text::prefix(s, MAX_FIELD).to_owned()
}

/// The fields of one event, as Sentry wants them.
#[derive(Default)]
struct Fields {
    event: Option<String>,
    message: Option<String>,
    outcome: Option<String>,
    error: Option<String>,
    error_type: Option<String>,
    route: Option<String>,
    method: Option<String>,
    status: Option<u64>,
    trace_id: Option<String>,
    backtrace: Option<String>,
    /// `#[observed]`'s `fields(...)` object (already redacted by observa).
    recorded: Option<String>,
    data: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, name: &str, v: String) {
        let v = bounded(&v);
        match name {
            "event" => self.event = Some(v),
            "message" => self.message = Some(v),
            "outcome" => self.outcome = Some(v),
            "error" => self.error = Some(v),
            "error_type" => self.error_type = Some(v),
            "route" => self.route = Some(v),
            "method" => self.method = Some(v),
            "trace_id" => self.trace_id = Some(v),
            "backtrace" => self.backtrace = Some(v),
            _ => {
                if self.data.len() < 64 {
                    self.data.insert(name.to_owned(), Value::String(v));
                }
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, v: &str) {
        // Only observa's own `fields` JSON becomes extra members; the same name on any other
        // event is an ordinary value.
        if f.name() == crate::completion::FIELDS && crate::completion::trusted_fields(v) {
            self.recorded = Some(bounded(v));
            return;
        }
        self.put(f.name(), v.to_owned());
    }

    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{v:?}");
        self.put(f.name(), s);
    }

    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.put(f.name(), crate::outcome::ErrorView::Error(v).to_string());
    }

    fn record_u64(&mut self, f: &Field, v: u64) {
        if f.name() == "status" {
            self.status = Some(v);
        } else if self.data.len() < 64 {
            self.data.insert(f.name().to_owned(), v.into());
        }
    }

    fn record_i64(&mut self, f: &Field, v: i64) {
        if self.data.len() < 64 {
            self.data.insert(f.name().to_owned(), v.into());
        }
    }

    fn record_f64(&mut self, f: &Field, v: f64) {
        if self.data.len() < 64 {
            self.data.insert(f.name().to_owned(), v.into());
        }
    }

    fn record_bool(&mut self, f: &Field, v: bool) {
        if self.data.len() < 64 {
            self.data.insert(f.name().to_owned(), v.into());
        }
    }
}

/// The exception list for an error with its chain: root cause first, as Sentry expects.
pub(crate) fn chain(
    ty: &str,
    top: &str,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> Vec<Exception> {
    let mut out = vec![Exception {
        ty: ty.to_owned(),
        value: Some(bounded(top)),
        ..Default::default()
    }];
    while let Some(s) = source {
        if out.len() == 16 {
            break;
        }
        out.push(Exception {
            ty: "source".to_owned(),
            value: Some(bounded(&s.to_string())),
            ..Default::default()
        });
        source = s.source();
    }
    out.reverse();
    out
}

/// An event with the current context's tags, the request's route and the breadcrumbs of the
/// request (or the process's latest).
pub(crate) fn base_event(level: sentry::Level, trace_id: Option<String>) -> Event<'static> {
    let mut ev = Event {
        level,
        ..Default::default()
    };
    let corr = crate::context::with_current(|c| {
        for (k, v) in [
            ("correlation_id", c.correlation_id()),
            ("tenant_id", c.tenant_id()),
            ("user_id", c.user_id()),
        ] {
            if let Some(v) = v {
                ev.tags.insert(k.into(), bounded(v));
            }
        }
        let tp_trace = c
            .traceparent()
            .and_then(|tp| tp.split('-').nth(1))
            .map(str::to_owned);
        if let Some(t) = trace_id.or(tp_trace) {
            ev.tags.insert("trace_id".into(), t);
        }
        c.request_key()
    });
    let requests = requests().lock().unwrap_or_else(|p| p.into_inner());
    match corr.and_then(|c| requests.get(&c)) {
        Some(r) => {
            if let Some(route) = &r.route {
                ev.tags.insert("route".into(), route.clone());
            }
            ev.breadcrumbs = r.crumbs.iter().cloned().collect::<Vec<_>>().into();
        }
        None => {
            drop(requests);
            ev.breadcrumbs = global_crumbs()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .into();
        }
    }
    ev
}

pub(crate) fn send(client: &sentry::Client, ev: Event<'static>) {
    // Sampling, `before_send` and the queue are the client's; nothing here blocks.
    client.capture_event(ev, None);
}

fn global_crumbs() -> &'static Mutex<VecDeque<Breadcrumb>> {
    static G: OnceLock<Mutex<VecDeque<Breadcrumb>>> = OnceLock::new();
    G.get_or_init(|| Mutex::new(VecDeque::with_capacity(MAX_BREADCRUMBS)))
}

fn push_crumb(q: &mut VecDeque<Breadcrumb>, b: Breadcrumb) {
    if q.len() == MAX_BREADCRUMBS {
        q.pop_front();
    }
    q.push_back(b);
}

impl<S> tracing_subscriber::Layer<S> for SentryLayer
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: LayerContext<'_, S>) {
        let Some(client) = super::client() else {
            return;
        };
        let meta = event.metadata();
        // observa's own notices about Sentry would loop; the sender thread logs nothing.
        let mut f = Fields::default();
        event.record(&mut f);
        let completion = meta.name() == COMPLETION;
        let failure = completion
            && *meta.level() == Level::ERROR
            && matches!(f.outcome.as_deref(), Some("server_error" | "panic"));
        if !failure {
            let b = Breadcrumb {
                ty: "default".into(),
                category: Some(meta.target().to_owned()),
                level: level(meta.level()),
                message: f
                    .message
                    .take()
                    .or_else(|| f.event.clone())
                    .map(|m| bounded(&m)),
                data: {
                    let mut d = std::mem::take(&mut f.data);
                    for (k, v) in [
                        ("event", f.event.take()),
                        ("outcome", f.outcome.take()),
                        ("error_type", f.error_type.take()),
                    ] {
                        if let Some(v) = v {
                            d.insert(k.into(), Value::String(v));
                        }
                    }
                    d
                },
                ..Default::default()
            };
            let key = crate::context::with_current(|c| c.request_key());
            let mut reqs = requests().lock().unwrap_or_else(|p| p.into_inner());
            match key.and_then(|c| reqs.get_mut(&c)) {
                Some(r) => push_crumb(&mut r.crumbs, b),
                None => {
                    drop(reqs);
                    push_crumb(
                        &mut global_crumbs().lock().unwrap_or_else(|p| p.into_inner()),
                        b,
                    );
                }
            }
            return;
        }
        // Trace id: the line's own (HTTP), else the OTLP span's, else the context's.
        #[cfg(feature = "otlp")]
        let otel = if crate::trace::active() {
            // The innermost span's: own or another crate's, its OpenTelemetry context is current.
            crate::trace::current_ids().map(|(t, _)| t.to_string())
        } else {
            None
        };
        #[cfg(not(feature = "otlp"))]
        let otel: Option<String> = None;
        let is_request = meta.target() == "observa::http";
        let error_type = f
            .error_type
            .clone()
            .unwrap_or_else(|| f.outcome.clone().unwrap_or_default());
        let exceptions = vec![Exception {
            ty: error_type.clone(),
            value: f.error.clone().or_else(|| f.event.clone()),
            ..Default::default()
        }];
        let mut extra = Map::new();
        if let Some(bt) = f.backtrace.take() {
            extra.insert("backtrace".into(), Value::String(bt));
        }
        if let Some(rec) = f.recorded.take()
            && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&rec)
        {
            for (k, v) in m {
                extra.insert(k, v);
            }
        }
        let mut tags: Vec<(&'static str, String)> = Vec::new();
        for (k, v) in [
            ("event", f.event.clone()),
            ("outcome", f.outcome.clone()),
            ("error_type", Some(error_type)),
        ] {
            if let Some(v) = v {
                tags.push((k, v));
            }
        }
        let corr = crate::context::with_current(|c| c.request_key());
        if !is_request {
            // Inside a request: held for the request's event (one event per failed request,
            // with the first failure as its cause).
            let mut reqs = requests().lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = corr.and_then(|c| reqs.get_mut(&c)) {
                if r.pending.is_none() {
                    r.pending = Some(Pending {
                        exceptions,
                        tags,
                        extra,
                        trace_id: otel,
                    });
                }
                return;
            }
        }
        let held: Option<Pending> = if is_request {
            corr.and_then(|c| {
                let mut reqs = requests().lock().unwrap_or_else(|p| p.into_inner());
                reqs.get_mut(&c)
                    .and_then(|r: &mut InFlight| r.pending.take())
            })
        } else {
            None
        };
        // Trace id: the line's own (a continued `traceparent`), else the OTLP span's, else the
        // span of the failed call the request's event carries.
        let cause_trace = held.as_ref().and_then(|p| p.trace_id.clone());
        let mut ev = base_event(
            sentry::Level::Error,
            f.trace_id.take().or(otel).or(cause_trace),
        );
        ev.message = f.event.clone();
        match held {
            Some(p) => {
                ev.exception = p.exceptions.into();
                for (k, v) in p.tags {
                    ev.tags.entry(format!("cause.{k}")).or_insert(v);
                }
                ev.extra = p.extra;
                for (k, v) in tags {
                    ev.tags.insert(k.into(), v);
                }
                for (k, v) in extra {
                    ev.extra.insert(k, v);
                }
            }
            None => {
                ev.exception = exceptions.into();
                for (k, v) in tags {
                    ev.tags.insert(k.into(), v);
                }
                ev.extra = extra;
            }
        }
        if is_request {
            if let Some(r) = f.route.take() {
                ev.tags.insert("route".into(), r);
            }
            if let Some(m) = f.method.take() {
                ev.tags.insert("method".into(), m);
            }
            if let Some(s) = f.status {
                ev.tags.insert("status".into(), s.to_string());
            }
        }
        ev.logger = Some(meta.target().to_owned());
        send(client, ev);
    }
}
