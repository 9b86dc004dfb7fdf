//! Traces: OTLP/HTTP export of observa's (and every other) `tracing` span, feature `otlp`.
//!
//! Off unless `OBSERVA_OTLP_ENDPOINT` (or [`crate::Config::otlp_endpoint`]) is set; with the
//! feature compiled out or the endpoint unset there is no layer and no cost. When on:
//! - spans go through `tracing-opentelemetry` to a batch exporter (its own thread) posting
//!   protobuf to `<endpoint>/v1/traces`;
//! - the resource carries `service.name`, `service.version` and `deployment.environment.name`;
//! - sampling is parent-based with a trace-id ratio (`OBSERVA_OTLP_SAMPLE_RATIO`);
//! - a root span created inside a context that continues a W3C `traceparent` (an HTTP request
//!   or a job) gets that remote parent, so the trace continues across services;
//! - log lines written inside a span carry its `trace_id` and `span_id`.
//!
//! Export errors never reach the application: the exporter retries and drops.

#[cfg(feature = "otlp")]
mod otlp {
    use crate::config::Config;
    use crate::init::InitError;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
    };
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use std::sync::OnceLock;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    static ACTIVE: OnceLock<()> = OnceLock::new();

    /// Whether the OTLP pipeline is installed.
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
    pub(crate) fn provider(config: &Config) -> Result<Option<SdkTracerProvider>, InitError> {
        let Some(endpoint) = config.otlp_endpoint.as_deref() else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .build()
            .map_err(|e| {
                InitError::Config(crate::config::ConfigError {
                    var: "OBSERVA_OTLP_ENDPOINT",
                    reason: format!("the OTLP exporter could not be built: {e}"),
                })
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
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    config.otlp_sample_ratio,
                ))))
                .with_resource(resource)
                .build(),
        ))
    }

    /// The `tracing` layer for `provider`.
    pub(crate) fn layer<S>(
        provider: &SdkTracerProvider,
    ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let _ = ACTIVE.set(());
        tracing_opentelemetry::layer().with_tracer(provider.tracer("observa"))
    }

    /// A root span inside a context that continues a `traceparent` gets it as remote parent.
    pub(crate) fn adopt_remote_parent(span: &tracing::Span, traceparent: &str) {
        let mut parts = traceparent.split('-');
        let (Some(_v), Some(t), Some(p), Some(f)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let (Ok(trace), Ok(parent), Ok(flags)) = (
            TraceId::from_hex(t),
            SpanId::from_hex(p),
            u8::from_str_radix(f, 16),
        ) else {
            return;
        };
        let sc = SpanContext::new(
            trace,
            parent,
            TraceFlags::new(flags),
            true,
            TraceState::NONE,
        );
        if sc.is_valid() {
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
        }
    }

    /// `(trace_id, span_id)` of a span, when it is sampled into a valid trace.
    pub(crate) fn ids(
        dispatch: &tracing::Dispatch,
        id: &tracing::span::Id,
    ) -> Option<(String, String)> {
        let cx = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
    }
}

#[cfg(feature = "otlp")]
pub use otlp::traces_url;
#[cfg(feature = "otlp")]
pub(crate) use otlp::{active, adopt_remote_parent, ids, layer, provider};

#[cfg(not(feature = "otlp"))]
pub(crate) fn active() -> bool {
    false
}
