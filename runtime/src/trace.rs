//! Traces: OTLP/HTTP export of observa's (and every other) `tracing` span, feature `otlp`.
//!
//! Off unless `OBSERVA_OTLP_ENDPOINT` (or [`crate::Config::otlp_endpoint`]) is set; with the
//! feature compiled out or the endpoint unset there is no layer and no cost. When on:
//! - the span of an `#[observed]` call is recorded by observa itself (`trace/own.rs`: typed, at
//!   the end of the call, no `tracing-opentelemetry` on its path); every other `tracing` span
//!   goes through `tracing-opentelemetry`; both reach the same batch processor (its own
//!   thread) posting protobuf to `<endpoint>/v1/traces`;
//! - the resource carries `service.name`, `service.version` and `deployment.environment.name`;
//! - sampling is parent-based with a trace-id ratio (`OBSERVA_OTLP_SAMPLE_RATIO`); an incoming
//!   request's `sampled` flag is honoured only when the HTTP layer is told to
//!   ([`crate::http::TraceContextPolicy`]): by default the request's trace is continued but the
//!   sampling decision is a local draw at that ratio, so clients cannot force export;
//! - every exported attribute (span attributes, span event attributes, link attributes, whatever
//!   code recorded them and whenever: at creation, `record()` later, events inside the span) goes
//!   through the same key rules as log fields of unknown origin ([`crate::redact::key_action`]):
//!   values under sensitive keys become `[REDACTED]` in every environment, and in production
//!   keys outside the allowlist ([`crate::redact::SAFE_FIELDS`] plus the attributes the exporter
//!   itself adds, [`EXPORT_KEYS`]) become `[FILTERED]`. It is done in the exporter, on the batch
//!   thread, so nothing reaches the wire without it. Limit: in production this applies to the
//!   `fields(...)` of `#[observed]` spans too (their values are already redacted, but their
//!   names are not on the allowlist unless chosen from it);
//! - a root span created inside a context that continues a W3C `traceparent` (an HTTP request
//!   or a job) gets that remote parent, so the trace continues across services;
//! - log lines written inside a span carry its `trace_id` and `span_id`.
//!
//! Export errors never reach the application: a batch that cannot be sent is dropped. They are
//! counted (`observa_export_errors_total{exporter="otlp"}` per failed batch,
//! `observa_spans_dropped_total` per span in it) and logged once per outage: one WARN
//! `observa.export_outage` line at the first failure, one WARN `observa.export_recovered` line
//! (with the failed batches and dropped spans) at the first success after it. Own spans ended
//! faster than they are built and queued for export (more than the SDK's queue size waiting in
//! observa's pipe, `own::Pipe`) are dropped and counted in `observa_spans_dropped_total` too,
//! with one WARN `observa.spans_dropped` line. Limit: spans the SDK's queue drops when it is
//! full (2,048 spans waiting) are not counted.
//!
//! Span events are named after their event id (the `event` attribute), so a collector shows
//! `order.created`, not `observa.completion`.

#[cfg(feature = "otlp")]
mod own;

#[cfg(feature = "otlp")]
pub(crate) use own::{
    CallEvent, OwnPipeline, OwnSpan, SiteView, carry, event_on_innermost, install as install_own,
    is_site_span, recorded, release as release_own, shutdown,
};

#[cfg(feature = "otlp")]
mod otlp {
    use crate::config::Config;
    use crate::redact::{FILTERED, KeyAction, key_action};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    static ACTIVE: OnceLock<()> = OnceLock::new();
    /// The configured sample ratio (`f64` bits), for local sampling decisions.
    static RATIO: AtomicU64 = AtomicU64::new(0);

    /// Attribute keys the exporter pipeline itself adds (`tracing-opentelemetry`'s code
    /// location, thread, level and target, timings, exceptions built from `error` fields), kept
    /// in production besides [`crate::redact::SAFE_FIELDS`].
    pub const EXPORT_KEYS: &[&str] = &[
        "code.file.path",
        "code.module.name",
        "code.line.number",
        "thread.id",
        "thread.name",
        "level",
        "target",
        "busy_ns",
        "idle_ns",
        "exception.message",
        // The request layer's server span (semantic conventions; `url.path` is left out: a
        // path can carry ids and is `[FILTERED]` in production, the route template is kept).
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "rpc.system",
        "rpc.grpc.status_code",
        // The outbound client's span (`url.full` is masked but left out, like `url.path`).
        "server.address",
        "server.port",
        "url.template",
    ];

    /// The sampling decision for a remote parent whose own flag is not trusted: a draw at the
    /// configured ratio (not derived from the trace id, which the caller chose).
    #[cfg(feature = "tower")]
    pub(crate) fn sample_locally(incoming: bool) -> bool {
        if !active() {
            return incoming;
        }
        crate::encode::rand::unit_f64() < f64::from_bits(RATIO.load(Ordering::Relaxed))
    }

    /// The value that may be exported under `key`, per the key rules.
    fn scrub(kv: &mut KeyValue, production: bool) {
        let allow: Option<&[&str]> = production.then_some(crate::redact::SAFE_FIELDS);
        let action = match key_action(kv.key.as_str(), allow) {
            KeyAction::Filter if EXPORT_KEYS.contains(&kv.key.as_str()) => KeyAction::Keep,
            a => a,
        };
        match action {
            KeyAction::Keep => {
                // Free text (an error, a message) is scrubbed of URL credentials as in log lines.
                if let Value::String(text) = &kv.value
                    && let std::borrow::Cow::Owned(clean) = crate::scrub::scrub(text.as_str())
                {
                    kv.value = Value::from(clean);
                }
            }
            KeyAction::Mask => kv.value = Value::from(crate::REDACTED),
            KeyAction::Filter => kv.value = Value::from(FILTERED),
        }
    }

    /// Applies the key rules to every attribute of `span`.
    pub(crate) fn scrub_span(span: &mut SpanData, production: bool) {
        // Free text any code can set (a status message, a name through the API): scrubbed of
        // URL credentials as every other text.
        if let opentelemetry::trace::Status::Error { description } = &mut span.status
            && let std::borrow::Cow::Owned(clean) = crate::scrub::scrub(description)
        {
            *description = clean.into();
        }
        if let std::borrow::Cow::Owned(clean) = crate::scrub::scrub(&span.name) {
            span.name = clean.into();
        }
        span.attributes
            .iter_mut()
            .for_each(|kv| scrub(kv, production));
        for e in span.events.events.iter_mut() {
            // tracing-opentelemetry names an event after its message: free text too.
            if let std::borrow::Cow::Owned(clean) = crate::scrub::scrub(&e.name) {
                e.name = clean.into();
            }
            e.attributes.iter_mut().for_each(|kv| scrub(kv, production));
        }
        for l in span.links.links.iter_mut() {
            l.attributes.iter_mut().for_each(|kv| scrub(kv, production));
        }
    }

    /// Names each span event after its event id: an event carrying an `event` attribute (every
    /// completion and `#[observed]` event) gets its value as name, instead of the `tracing`
    /// event name (`observa.completion`) or its message. Runs after [`scrub_span`]: a masked or
    /// filtered id is not used.
    pub(crate) fn name_events(span: &mut SpanData) {
        for e in span.events.events.iter_mut() {
            let id = e
                .attributes
                .iter()
                .find_map(|kv| match (&kv.key, &kv.value) {
                    (k, Value::String(v)) if k.as_str() == "event" => Some(v.as_str()),
                    _ => None,
                });
            if let Some(id) = id
                && !id.is_empty()
                && id != crate::REDACTED
                && id != FILTERED
            {
                e.name = id.to_owned().into();
            }
        }
    }

    /// Export health: failures and dropped spans counted, one WARN line when an outage starts
    /// and one when it ends.
    pub(super) mod health {
        use crate::metrics::CounterFamily;
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

        static DOWN: AtomicBool = AtomicBool::new(false);
        /// Failed batches and dropped spans since the outage started.
        static FAILED: AtomicU64 = AtomicU64::new(0);
        static DROPPED: AtomicU64 = AtomicU64::new(0);

        struct Counters {
            errors: CounterFamily,
            dropped: CounterFamily,
        }

        fn counters() -> Option<&'static Counters> {
            static C: OnceLock<Option<Counters>> = OnceLock::new();
            C.get_or_init(|| {
                Some(Counters {
                    errors: CounterFamily::new(
                        "observa_export_errors_total",
                        "Span export batches that failed, by exporter",
                        &["exporter"],
                    )
                    .ok()?,
                    dropped: CounterFamily::new(
                        "observa_spans_dropped_total",
                        "Spans dropped: their export failed, or they ended faster than they could be queued",
                        &[],
                    )
                    .ok()?,
                })
            })
            .as_ref()
        }

        pub(super) fn failed(spans: usize, e: &dyn std::fmt::Display) {
            let spans = spans as u64;
            if let Some(c) = counters() {
                c.errors.get(&["otlp"]).inc();
                c.dropped.get(&[]).inc_by(spans);
            }
            FAILED.fetch_add(1, Ordering::Relaxed);
            DROPPED.fetch_add(spans, Ordering::Relaxed);
            if !DOWN.swap(true, Ordering::AcqRel) {
                let error = crate::scrub::scrub(&e.to_string()).into_owned();
                tracing::warn!(
                    target: "observa",
                    event = "observa.export_outage",
                    exporter = "otlp",
                    error = error.as_str(),
                    "span export failing: spans are dropped until the collector answers"
                );
            }
        }

        /// `spans` own spans dropped because the pipe to the batch processor was full: counted
        /// (`observa_spans_dropped_total`), and one WARN line the first time.
        pub(in crate::trace) fn pipe_full(spans: u64) {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if let Some(c) = counters() {
                c.dropped.get(&[]).inc_by(spans);
            }
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "observa",
                    event = "observa.spans_dropped",
                    exporter = "otlp",
                    dropped_spans = spans,
                    "own spans are ended faster than they are exported: spans are dropped"
                );
            }
        }

        pub(super) fn exported() {
            if DOWN.swap(false, Ordering::AcqRel) {
                let failed = FAILED.swap(0, Ordering::Relaxed);
                let dropped = DROPPED.swap(0, Ordering::Relaxed);
                tracing::warn!(
                    target: "observa",
                    event = "observa.export_recovered",
                    exporter = "otlp",
                    failed_batches = failed,
                    dropped_spans = dropped,
                    "span export recovered"
                );
            }
        }
    }

    /// The exporter wrapper that applies [`scrub_span`] to each batch before it is encoded.
    #[derive(Debug)]
    struct Scrubbing<E> {
        inner: E,
        production: bool,
    }

    impl<E: SpanExporter> SpanExporter for Scrubbing<E> {
        fn export(
            &self,
            mut batch: Vec<SpanData>,
        ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
            for s in batch.iter_mut() {
                scrub_span(s, self.production);
                name_events(s);
            }
            let n = batch.len();
            let sent = self.inner.export(batch);
            async move {
                let r = sent.await;
                match &r {
                    Ok(()) => health::exported(),
                    Err(e) => health::failed(n, e),
                }
                r
            }
        }

        fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
            self.inner.shutdown_with_timeout(timeout)
        }

        fn force_flush(&self) -> OTelSdkResult {
            self.inner.force_flush()
        }

        fn set_resource(&mut self, resource: &Resource) {
            self.inner.set_resource(resource);
        }
    }

    /// Whether the OTLP pipeline is installed.
    #[inline]
    pub(crate) fn active() -> bool {
        ACTIVE.get().is_some()
    }

    /// The traces URL for an endpoint given as a base (`http://collector:4318`) or in full.
    pub fn traces_url(endpoint: &str) -> String {
        let e = endpoint.trim_end_matches('/');
        if e.ends_with("/v1/traces") {
            e.to_owned()
        } else {
            format!("{e}/v1/traces")
        }
    }

    /// Builds the provider for `config`, or `None` when no endpoint is configured.
    pub(crate) fn provider(
        config: &Config,
    ) -> Result<Option<(SdkTracerProvider, super::OwnPipeline)>, crate::config::ConfigError> {
        let Some(endpoint) = config.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .build()
            .map_err(|e| crate::config::ConfigError {
                var: "OBSERVA_OTLP_ENDPOINT",
                reason: format!("the OTLP exporter could not be built: {e}"),
            })?;
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                config.service_version.clone(),
            ))
            .with_attribute(opentelemetry::KeyValue::new(
                "deployment.environment.name",
                config.environment.clone(),
            ))
            .build();
        let ratio = config.otlp_sample_ratio.clamp(0.0, 1.0);
        RATIO.store(ratio.to_bits(), Ordering::Relaxed);
        let exporter = Scrubbing {
            inner: exporter,
            production: config.is_production(),
        };
        // One batch processor, shared by `tracing-opentelemetry`'s spans and observa's own
        // (`own`): the same queue, exporter, scrubbing and health counters.
        let (processor, own) = super::own::processor(exporter, &resource, ratio);
        Ok(Some((
            SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    config.otlp_sample_ratio,
                ))))
                .with_resource(resource)
                .build(),
            own,
        )))
    }

    /// The layers [`layer`] returns.
    pub(crate) type Layer<S> = tracing_subscriber::layer::Layered<
        tracing_subscriber::filter::Filtered<
            tracing_subscriber::layer::Identity,
            super::own::EveryEvent,
            S,
        >,
        tracing_subscriber::layer::Layered<
            tracing_subscriber::filter::Filtered<
                tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
                super::own::OutsideOwnSpans,
                S,
            >,
            super::own::OwnEvents,
            S,
        >,
        S,
    >;

    /// The `tracing` layers for `provider`: `tracing-opentelemetry` for the spans of other
    /// code, [`super::own::OwnEvents`] for the events inside observa's own spans.
    pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use super::own::{EveryEvent, OutsideOwnSpans, OwnEvents};
        use tracing_subscriber::Layer as _;
        let _ = ACTIVE.set(());
        // Context activation (the default, stated): an entered span's context is attached, so
        // the current OpenTelemetry context is the innermost span, own or not; own spans and
        // log lines take their parent and ids from it.
        let otel = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("observa"))
            .with_context_activation(true)
            .with_filter(OutsideOwnSpans);
        OwnEvents
            .and_then(otel)
            .and_then(tracing_subscriber::layer::Identity::new().with_filter(EveryEvent))
    }

    /// A root span inside a context that continues a `traceparent` gets it as remote parent
    /// (the HTTP layer's server span, the outbound client's span; an `#[observed]` span adopts
    /// it in [`super::own`]). The text is validated by the crate's one parser
    /// ([`TraceParent::parse`]): a context built by hand with a malformed, all-zero or version
    /// `ff` value adopts nothing.
    #[cfg(any(feature = "tower", feature = "reqwest"))]
    pub(crate) fn adopt_remote_parent(span: &tracing::Span, traceparent: &str) {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        if let Some(sc) = super::own::remote_span_context(traceparent) {
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
        }
    }

    /// The `traceparent` naming `span` as parent (its trace, its id, its sampling decision),
    /// when it has a valid OpenTelemetry context.
    #[cfg(feature = "reqwest")]
    pub(crate) fn span_traceparent(span: &tracing::Span) -> Option<crate::carrier::TraceParent> {
        use crate::carrier::TraceParent;
        use opentelemetry::trace::{TraceContextExt, TraceFlags};
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        let s = cx.span();
        let sc = s.span_context();
        sc.is_valid().then(|| TraceParent {
            trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
            parent_id: u64::from_be_bytes(sc.span_id().to_bytes()),
            flags: sc.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8(),
        })
    }

    #[cfg(test)]
    mod tests {
        use opentelemetry::trace::{SpanId, TraceId};

        #[test]
        fn hex_is_the_ids_display() {
            for t in [
                0u128,
                1,
                0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
                u128::MAX,
            ] {
                let id = TraceId::from(t);
                let hex = crate::trace::HexId::trace(id);
                assert_eq!(&*hex, id.to_string());
                assert_eq!(hex.to_string(), id.to_string());
            }
            for s in [0u64, 1, 0xb7ad_6b71_6920_3331, u64::MAX] {
                let id = SpanId::from(s);
                assert_eq!(&*crate::trace::HexId::span(id), id.to_string());
            }
        }
    }
}

#[cfg(feature = "otlp")]
#[cfg(all(feature = "otlp", any(feature = "tower", feature = "reqwest")))]
pub(crate) use otlp::adopt_remote_parent;
#[cfg(all(feature = "otlp", feature = "tower"))]
pub(crate) use otlp::sample_locally;
#[cfg(all(feature = "otlp", feature = "reqwest"))]
pub(crate) use otlp::span_traceparent;
#[cfg(feature = "otlp")]
pub use otlp::{EXPORT_KEYS, traces_url};
#[cfg(feature = "otlp")]
pub(crate) use otlp::{active, layer, provider};
#[cfg(feature = "otlp")]
pub(crate) use own::current_ids;
#[cfg(all(feature = "otlp", feature = "reqwest"))]
pub(crate) use own::in_span;

/// `(trace_id, span_id)` of a span as lowercase hex, for log lines and Sentry events.
pub(crate) type TraceIds = (HexId<32>, HexId<16>);

/// An id as lowercase hex (`N` digits), kept inline: every log line inside a traced span
/// carries two, so they are neither formatted through `core::fmt` (padding and width handling
/// per byte) nor allocated.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct HexId<const N: usize>([u8; N]);

#[cfg(feature = "otlp")]
impl HexId<32> {
    pub(crate) fn trace(id: opentelemetry::trace::TraceId) -> HexId<32> {
        HexId(crate::encode::hex::u128_digits(u128::from_be_bytes(
            id.to_bytes(),
        )))
    }
}

#[cfg(feature = "otlp")]
impl HexId<16> {
    pub(crate) fn span(id: opentelemetry::trace::SpanId) -> HexId<16> {
        HexId(crate::encode::hex::u64_digits(u64::from_be_bytes(
            id.to_bytes(),
        )))
    }
}

impl<const N: usize> HexId<N> {
    /// The digits (ASCII; a JSON string body as they are).
    pub(crate) fn ascii(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> std::ops::Deref for HexId<N> {
    type Target = str;
    fn deref(&self) -> &str {
        // ASCII by construction: the check is one short pass, and no `unsafe` here.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Display for HexId<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl<const N: usize> std::fmt::Debug for HexId<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(not(feature = "otlp"), any(feature = "tower", feature = "reqwest")))]
pub(crate) fn active() -> bool {
    false
}

/// Whether observa's stack wants the `tracing` span of `meta`: only to export it, and never the
/// span of an `#[observed]` call (recorded as observa's own span, [`own`]).
pub(crate) fn exported_span(meta: &tracing::Metadata<'_>) -> bool {
    #[cfg(feature = "otlp")]
    {
        active() && !is_site_span(meta)
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = meta;
        false
    }
}

/// Without an exporter nothing here samples: the incoming decision is passed on.
#[cfg(all(not(feature = "otlp"), feature = "tower"))]
pub(crate) fn sample_locally(incoming: bool) -> bool {
    incoming
}
