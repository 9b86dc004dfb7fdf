//! Cross-argument rules: turns [`Args`] plus the function signature into a [`Plan`].

use super::args::{Args, BindArg, ErrClass, ErrRender, FieldArg, SloArg};
use crate::common::Ctxt;
use crate::common::fn_shape;
use crate::common::kw::{self, observed as keys};
use proc_macro2::Span;

/// Names observa writes itself; a recorded field may not shadow them.
const RESERVED: &[&str] = &[
    "correlation_id",
    "tenant_id",
    "user_id",
    "outcome",
    "error",
    "error_type",
    "duration_ms",
    "event",
    "message",
    "fields",
    "timestamp",
    "level",
    "target",
    "return",
];

pub struct Plan {
    pub event: String,
    pub name: String,
    pub target: Option<syn::LitStr>,
    pub level: syn::Ident,
    pub tenant: Option<syn::Expr>,
    pub user: Option<syn::Expr>,
    pub correlation: Option<syn::Expr>,
    /// (name, value expression)
    pub fields: Vec<(String, syn::Expr)>,
    pub err_debug: bool,
    pub err_class: Option<ErrClass>,
    pub ret: bool,
    /// The names `ret` is judged by (see `common::sensitive_expr::returned`); set by the caller.
    pub ret_names: Vec<String>,
    pub metrics: bool,
    pub metric: Option<String>,
    pub buckets: Option<Vec<f64>>,
    pub sample: Option<f64>,
    pub started: bool,
    /// `future`: instrument the returned future (a boxed future behind a type alias).
    pub future: bool,
    /// The objective of `slo(...)`, checked.
    pub slo: Option<SloPlan>,
    /// Per recorded field: the declared type of the argument it names (tokens as text), or
    /// `expr` for an expression. Only for the event catalogue.
    pub field_types: Vec<String>,
    /// `slow_ms = N`: successful completions slower than N ms are written at WARN.
    pub slow_ms: Option<u64>,
    /// `bind(...)`: (name, value expression, value is sensitive).
    pub bind: Vec<(String, syn::Expr, proc_macro2::TokenStream)>,
    /// Metric shape: `labels(...)`, `outcome_label`, `outcomes(...)`, `duration_metric`.
    pub shape: Shape,
}

/// A checked metric shape.
#[derive(Default)]
pub struct Shape {
    pub labels: Vec<(String, String)>,
    pub outcome_label: Option<String>,
    /// Label value per outcome, in the runtime's `Outcome::ALL` order, when `outcomes(...)` is given.
    pub outcomes: Option<[String; 5]>,
    pub duration_metric: Option<String>,
}

/// The outcomes, in the runtime's `Outcome::ALL` order.
const OUTCOMES: [&str; 5] = keys::outcome::OUTCOMES;

/// Label names observa or Prometheus use themselves.
const RESERVED_LABELS: &[&str] = &["event", "le", "quantile"];

/// Labels whose values are per tenant, user or request: unbounded.
const PER_REQUEST_LABELS: &[&str] = &[
    "tenant_id",
    "tenant",
    "user_id",
    "user",
    "correlation_id",
    "request_id",
];

fn valid_label_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !n.starts_with("__")
}

fn valid_metric_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn lit_str(e: &syn::Expr) -> Option<&syn::LitStr> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// Checks one label name (of `labels(...)` or `outcome_label`).
fn check_label_name(ctx: &Ctxt, n: &str, span: Span) -> bool {
    if !valid_label_name(n) {
        ctx.error_at(
            span,
            format!(
                "invalid label name `{n}`; use `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`"
            ),
        );
        return false;
    }
    if RESERVED_LABELS.contains(&n) {
        ctx.error_at(
            span,
            format!("label name `{n}` is reserved (observa writes `event`, Prometheus `le` and `quantile`); choose another name"),
        );
        return false;
    }
    if PER_REQUEST_LABELS.contains(&n) {
        ctx.error_at(
            span,
            format!("label `{n}` would make one series per {}; `labels(...)` are constants of the call site, so bind the value with `tenant`/`bind(...)` (it is on every line and span) and count per tenant with `observa::metrics::CounterFamily`, which has the cardinality cap", n.trim_end_matches("_id")),
        );
        return false;
    }
    true
}

fn shape(ctx: &Ctxt, args: &mut Args, metrics: bool, has_slo: bool) -> Shape {
    let spans = [
        args.labels.span(),
        args.outcome_label.span(),
        args.outcomes.span(),
        args.duration_metric.span(),
    ];
    let names = ["labels", "outcome_label", "outcomes", "duration_metric"];
    let mut out = Shape::default();
    let labels = args.labels.take();
    let outcome_label = args.outcome_label.take();
    let outcomes = args.outcomes.take();
    let duration_metric = args.duration_metric.take();
    for (s, n) in spans.iter().zip(names) {
        if let Some(s) = s {
            if !metrics {
                ctx.error_at(
                    *s,
                    format!("`{n}` conflicts with `metrics = false`; remove one of them"),
                );
                return out;
            }
            if has_slo {
                ctx.error_at(
                    *s,
                    format!(
                        "`{n}` changes the metric shape `slo` is measured on; remove one of them"
                    ),
                );
                return out;
            }
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for FieldArg { name, value } in labels.unwrap_or_default() {
        let n = name.to_string();
        if !check_label_name(ctx, &n, name.span()) {
            continue;
        }
        if seen.contains(&n) {
            ctx.error(&name, format!("label `{n}` is given twice; keep one"));
            continue;
        }
        let Some(v) = value.as_ref().and_then(lit_str) else {
            ctx.error_at(
                value
                    .as_ref()
                    .map_or(name.span(), syn::spanned::Spanned::span),
                format!("label `{n}` needs a constant string value, e.g. `{n} = \"shopify_sync\"`"),
            );
            continue;
        };
        seen.push(n.clone());
        out.labels.push((n, v.value()));
    }
    if let Some(l) = outcome_label {
        let n = l.value();
        if check_label_name(ctx, &n, l.span()) {
            if seen.contains(&n) {
                ctx.error(
                    &l,
                    format!("`outcome_label` `{n}` is also a constant label; choose another name"),
                );
            } else {
                out.outcome_label = Some(n);
            }
        }
    } else if seen.iter().any(|n| n == "outcome") {
        ctx.error_at(
            spans[0].unwrap_or_else(Span::call_site),
            "constant label `outcome` collides with the outcome label; rename it or set `outcome_label = \"...\"`",
        );
    }
    if let Some(list) = outcomes {
        let mut map: [Option<String>; 5] = Default::default();
        let mut failed: Option<String> = None;
        for FieldArg { name, value } in list {
            let k = name.to_string();
            let Some(v) = value
                .as_ref()
                .and_then(lit_str)
                .map(syn::LitStr::value)
                .filter(|v| !v.is_empty())
            else {
                ctx.error_at(
                    value.as_ref().map_or(name.span(), syn::spanned::Spanned::span),
                    format!("outcome `{k}` needs a non-empty string label value, e.g. `{k} = \"failed\"`"),
                );
                continue;
            };
            let slot = if k == keys::outcome::FAILED {
                &mut failed
            } else if let Some(i) = OUTCOMES.iter().position(|o| *o == k) {
                &mut map[i]
            } else {
                ctx.error(
                    &name,
                    format!(
                        "unknown outcome `{k}`; expected {} (every failure not named)",
                        kw::or_list(keys::outcome::ALL)
                    ),
                );
                continue;
            };
            if slot.replace(v).is_some() {
                ctx.error(&name, format!("outcome `{k}` is given twice; keep one"));
            }
        }
        let mut done: [String; 5] = Default::default();
        for (i, o) in OUTCOMES.iter().enumerate() {
            done[i] = match (&map[i], &failed) {
                (Some(v), _) => v.clone(),
                (None, Some(f)) if i > 0 => f.clone(),
                _ => (*o).to_owned(),
            };
        }
        out.outcomes = Some(done);
    }
    if let Some(d) = duration_metric {
        let v = d.value();
        if !valid_metric_name(&v) {
            ctx.error(&d, format!("invalid metric name `{v}`; use `[a-zA-Z_:][a-zA-Z0-9_:]*`, e.g. `worker_job_duration_seconds`"));
        } else if v.ends_with("_total")
            || v.ends_with("_bucket")
            || v.ends_with("_count")
            || v.ends_with("_sum")
        {
            ctx.error(&d, format!("`duration_metric` `{v}` is a histogram: it must not end in `_total`, `_bucket`, `_count` or `_sum`"));
        } else {
            out.duration_metric = Some(v);
        }
    }
    out
}

/// A checked `slo(...)`.
pub struct SloPlan {
    /// Percent of calls that must not fail with a server error or a panic.
    pub success: Option<f64>,
    /// Latency threshold in milliseconds (a bucket bound of the duration histogram).
    pub latency_ms: Option<u64>,
    /// Percent of calls that must finish within `latency_ms`.
    pub percentile: f64,
    /// The compliance window in seconds.
    pub window_secs: u64,
}

/// Shortest and longest compliance windows: the burn-rate windows are the SRE workbook's for
/// 30 days, scaled to the window, and shorter than a day would make them shorter than a scrape.
const MIN_WINDOW: u64 = 86_400;
const MAX_WINDOW: u64 = 90 * 86_400;

/// `30d`, `4w`, `72h` in seconds.
fn window_secs(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn slo_plan(ctx: &Ctxt, slo: SloArg, buckets: Option<&[f64]>) -> Option<SloPlan> {
    let before = ctx.has_errors();
    let pct = |v: Option<(f64, Span)>, what: &str| {
        if let Some((n, s)) = v
            && !(n > 0.0 && n < 100.0)
        {
            ctx.error_at(
                s,
                format!(
                    "`{what}` is a percentage between 0 and 100 (exclusive), e.g. `{what} = 99.9`"
                ),
            );
        }
        v.map(|(n, _)| n)
    };
    let success = pct(slo.success, "success");
    let percentile_given = slo.percentile;
    let percentile = pct(slo.percentile, "percentile");
    let latency_ms = slo.latency_ms.and_then(|(n, s)| {
        if !(n >= 1.0 && n.fract() == 0.0 && n <= 3_600_000.0) {
            ctx.error_at(
                s,
                "`latency_ms` is a whole number of milliseconds between 1 and 3600000, e.g. `latency_ms = 250`",
            );
            return None;
        }
        let ms = n as u64;
        if let Some(b) = buckets {
            let bound = ms as f64 / 1000.0;
            if !b.iter().any(|v| (v - bound).abs() < 1e-12) {
                ctx.error_at(
                    s,
                    format!(
                        "`latency_ms = {ms}` is not a bound of this function's histogram: add `{bound}` to `buckets` so calls under {ms} ms can be counted"
                    ),
                );
            }
        }
        Some(ms)
    });
    if slo.latency_ms.is_none()
        && let Some((_, s)) = percentile_given
    {
        ctx.error_at(
            s,
            "`percentile` applies to a latency objective; add `latency_ms = ...` or remove `percentile`",
        );
    }
    if slo.success.is_none() && slo.latency_ms.is_none() {
        ctx.error_at(
            slo.span,
            "`slo(...)` needs an objective: `success = 99.9`, `latency_ms = 250` (with `percentile = 99`), or both",
        );
    }
    let window = match &slo.window {
        None => 30 * 86_400,
        Some(w) => match window_secs(&w.value()) {
            Some(n) if (MIN_WINDOW..=MAX_WINDOW).contains(&n) => n,
            _ => {
                ctx.error(
                    w,
                    format!(
                        "invalid `window` `{}`; use a whole number of hours, days or weeks between 1d and 90d, e.g. `window = \"30d\"`",
                        w.value()
                    ),
                );
                0
            }
        },
    };
    if ctx.has_errors() && !before {
        return None;
    }
    Some(SloPlan {
        success,
        latency_ms,
        percentile: percentile.unwrap_or(99.0),
        window_secs: window,
    })
}

/// The declared type of argument `name`, as compact text.
fn arg_type(sig: &syn::Signature, name: &str) -> Option<String> {
    sig.inputs.iter().find_map(|i| match i {
        syn::FnArg::Typed(pt) => match &*pt.pat {
            syn::Pat::Ident(pi) if pi.ident == name => {
                let ty = &pt.ty;
                Some(compact(&quote::quote!(#ty).to_string()))
            }
            _ => None,
        },
        syn::FnArg::Receiver(_) => None,
    })
}

/// Token text without the spaces `to_string` puts around punctuation.
fn compact(s: &str) -> String {
    const P: &[char] = &['<', '>', '&', ',', '(', ')', '[', ']', ':', ';'];
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let drop = prev.is_some_and(|p| P.contains(&p) && p != ',')
                || next.is_some_and(|n| P.contains(&n));
            if drop {
                continue;
            }
        }
        out.push(*c);
    }
    out
}

/// Names of the function's arguments (simple identifier patterns), with `self` if present.
pub fn arg_names(sig: &syn::Signature) -> Vec<syn::Ident> {
    let mut out = Vec::new();
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(r) => out.push(syn::Ident::new("self", r.self_token.span)),
            syn::FnArg::Typed(pt) => {
                if let syn::Pat::Ident(pi) = &*pt.pat {
                    out.push(pi.ident.clone());
                }
            }
        }
    }
    out
}

fn valid_event(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.as_bytes()[0].is_ascii_lowercase()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// Validates; errors go to `ctx`. `default_event` is the fn name (or `prefix.fn` in impls).
pub fn plan(
    ctx: &Ctxt,
    mut args: Args,
    sig: &syn::Signature,
    return_type: Option<&syn::Type>,
    default_event: String,
) -> Plan {
    if let Some(c) = &sig.constness {
        ctx.error(
            c,
            "`#[observed]` cannot instrument a `const fn`: its body may run at compile time; remove `const` or the attribute",
        );
    }
    let names = arg_names(sig);
    let has_arg = |n: &str| names.iter().any(|i| i == n);

    let event = match args.event.take() {
        Some(lit) => {
            let v = lit.value();
            if !valid_event(&v) {
                ctx.error(
                    &lit,
                    format!(
                        "invalid event name `{v}`; use lowercase words of `a-z`, `0-9` and `_` joined by dots, at most 64 characters, e.g. `sync_job` or `billing.charge`"
                    ),
                );
            }
            v
        }
        None => default_event,
    };
    let name = args
        .name
        .take()
        .map_or_else(|| event.clone(), |l| l.value());

    let level = match args.level.take() {
        None => syn::Ident::new("INFO", Span::call_site()),
        Some(lit) => match lit.value().to_ascii_lowercase().as_str() {
            keys::level::TRACE => syn::Ident::new("TRACE", lit.span()),
            keys::level::DEBUG => syn::Ident::new("DEBUG", lit.span()),
            keys::level::INFO => syn::Ident::new("INFO", lit.span()),
            keys::level::WARN => syn::Ident::new("WARN", lit.span()),
            keys::level::ERROR => syn::Ident::new("ERROR", lit.span()),
            other => {
                ctx.error(
                    &lit,
                    format!(
                        "unknown level `{other}`; expected one of {}",
                        kw::list(keys::level::ALL)
                    ),
                );
                syn::Ident::new("INFO", lit.span())
            }
        },
    };

    let target = args.target.take();
    if let Some(t) = &target
        && t.value().is_empty()
    {
        ctx.error(
            t,
            "`target` cannot be empty; omit it to use the module path",
        );
    }

    let bind = |arg: Option<BindArg>, key: &str, candidates: &[&str]| -> Option<syn::Expr> {
        match arg? {
            BindArg::Expr(e) => Some(e),
            BindArg::Implicit(span) => match candidates.iter().find(|c| has_arg(c)) {
                Some(c) => {
                    let id = syn::Ident::new(c, span);
                    Some(syn::parse_quote!(#id))
                }
                None => {
                    ctx.error_at(
                        span,
                        format!(
                            "`{key}` needs an argument named {}; write `{key} = <expr>` to bind another value",
                            candidates
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        ),
                    );
                    None
                }
            },
        }
    };
    let tenant = bind(args.tenant.take(), "tenant", &["tenant", "tenant_id"]);
    let user = bind(args.user.take(), "user", &["user", "user_id"]);
    let correlation = bind(
        args.correlation.take(),
        "correlation",
        &["correlation_id", "correlation", "request_id"],
    );

    let skip = args.skip.take().unwrap_or_default();
    for s in &skip {
        if !has_arg(&s.to_string()) {
            ctx.error(
                s,
                format!(
                    "unknown argument `{s}` in `skip`; `skip(...)` lists arguments of this function"
                ),
            );
        }
    }

    let mut fields = Vec::new();
    for FieldArg { name, value } in args.fields.take().unwrap_or_default() {
        let n = name.to_string();
        if RESERVED.contains(&n.as_str()) {
            ctx.error(
                &name,
                format!("`{n}` is written by observa itself; record this value under another name"),
            );
            continue;
        }
        if fields.iter().any(|(f, _)| *f == n) {
            ctx.error(&name, format!("field `{n}` is listed twice in `fields`"));
            continue;
        }
        if skip.iter().any(|s| *s == n) {
            ctx.error(
                &name,
                format!("`{n}` is both in `skip` and in `fields`; remove it from one of them"),
            );
            continue;
        }
        let expr = match value {
            Some(e) => e,
            None => {
                if n == "self" {
                    ctx.error(
                        &name,
                        "`self` cannot be recorded whole; record a part of it: `fields(id = self.id)`",
                    );
                    continue;
                }
                if !has_arg(&n) {
                    ctx.error(
                        &name,
                        format!(
                            "unknown argument `{n}` in `fields`; `fields({n})` records an argument of this function, use `fields({n} = <expr>)` to record an expression"
                        ),
                    );
                    continue;
                }
                syn::parse_quote!(#name)
            }
        };
        fields.push((n, expr));
    }

    let future_span = args.future.span();
    let future = args.future.take().is_some();
    if let (Some(s), Some(_)) = (future_span, &sig.asyncness) {
        ctx.error_at(
            s,
            "`future` is for functions that return a future behind a type alias; an `async fn` is instrumented as one already, remove `future`",
        );
    }
    // The output of a future behind an alias the macro cannot read (`_`) may be a `Result`.
    let is_result =
        return_type.is_some_and(|t| fn_shape::is_result(t) || matches!(t, syn::Type::Infer(_)));
    let (mut err_debug, mut err_class) = (false, None);
    if let Some(e) = args.err.take() {
        if !is_result {
            ctx.error_at(
                e.span,
                "`err` requires the function to return `Result<_, _>`",
            );
        }
        err_debug = e.render == ErrRender::Debug;
        err_class = e.class;
    }
    let ret_span = args.ret.span();
    let ret = args.ret.take().is_some();
    if ret && return_type.is_none() {
        ctx.error_at(
            ret_span.unwrap_or_else(Span::call_site),
            "`ret` records the return value, but this function returns `()`; remove `ret`",
        );
    }

    let metrics_flag = args.metrics.take();
    let metrics = metrics_flag.as_ref().is_none_or(|b| b.value);
    let metric = args.metric.take();
    let buckets_span = args.buckets.span().unwrap_or_else(Span::call_site);
    let buckets = args.buckets.take();
    if !metrics {
        if let Some(m) = &metric {
            ctx.error(
                m,
                "`metric` conflicts with `metrics = false`; remove one of them",
            );
        }
        if let Some(b) = &buckets {
            ctx.error_at(
                b.first().map_or_else(Span::call_site, |(_, s)| *s),
                "`buckets` conflicts with `metrics = false`; remove one of them",
            );
        }
    }
    let metric = metric.and_then(|m| {
        let v = m.value();
        let ok = !v.is_empty()
            && v.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
        if !ok {
            ctx.error(
                &m,
                format!("invalid metric family `{v}`; use `[a-zA-Z_:][a-zA-Z0-9_:]*`, e.g. `worker_jobs`"),
            );
            return None;
        }
        if v.ends_with("_total") {
            ctx.error(
                &m,
                format!("metric family `{v}` must not end in `_total`: observa appends `_total`, `_duration_seconds` and `_in_flight`"),
            );
            return None;
        }
        Some(v)
    });
    let buckets = buckets.map(|b| {
        for w in b.windows(2) {
            if w[1].0 <= w[0].0 {
                ctx.error_at(w[1].1, "`buckets` must be strictly increasing");
            }
        }
        if let Some((v, s)) = b.first()
            && *v <= 0.0
        {
            ctx.error_at(
                *s,
                "`buckets` are durations in seconds and must be positive",
            );
        }
        if b.is_empty() {
            ctx.error_at(
                buckets_span,
                "`buckets` needs at least one bound, e.g. `buckets = [0.01, 0.1, 1.0]`",
            );
        }
        b.into_iter().map(|(v, _)| v).collect()
    });
    let sample = args.sample.take().map(|(v, s)| {
        if !(v > 0.0 && v <= 1.0) {
            ctx.error_at(
                s,
                "`sample` must be in (0, 1]: the fraction of successful calls logged",
            );
        }
        v
    });
    let started = args.started.take().is_some();
    let slo = args.slo.take().and_then(|s| {
        if !metrics {
            ctx.error_at(
                s.span,
                "`slo` is measured on this function's metrics, which `metrics = false` turns off; remove one of them",
            );
            return None;
        }
        slo_plan(ctx, s, buckets.as_deref())
    });
    let field_types = fields
        .iter()
        .map(|(n, e)| match e {
            syn::Expr::Path(p) if p.path.is_ident(n) => {
                arg_type(sig, n).unwrap_or_else(|| "expr".to_owned())
            }
            _ => "expr".to_owned(),
        })
        .collect();
    let slow_ms = args.slow_ms.take().and_then(|(v, s)| {
        if v == 0 {
            ctx.error_at(
                s,
                "`slow_ms` must be at least 1: the duration in milliseconds above which a successful call is logged at WARN",
            );
            return None;
        }
        Some(v)
    });

    let shape = shape(ctx, &mut args, metrics, slo.is_some());
    let mut bound: Vec<(String, syn::Expr, proc_macro2::TokenStream)> = Vec::new();
    let bind_span = args.bind.span().unwrap_or_else(Span::call_site);
    for FieldArg { name, value } in args.bind.take().unwrap_or_default() {
        let n = name.to_string();
        if RESERVED.contains(&n.as_str())
            || ["trace_id", "span_id", "line_truncated"].contains(&n.as_str())
        {
            ctx.error(
                &name,
                format!("`{n}` is written by observa itself and cannot be bound; use `tenant`, `user` or `correlation` for the ids, or another name"),
            );
            continue;
        }
        if bound.iter().any(|(b, _, _)| *b == n) {
            ctx.error(&name, format!("`{n}` is bound twice; keep one"));
            continue;
        }
        let e: syn::Expr = match value {
            Some(e) => e,
            None if has_arg(&n) => syn::parse_quote!(#name),
            None => {
                ctx.error(
                    &name,
                    format!("`bind({n})` needs an argument named `{n}`; write `{n} = <expr>` to bind another value"),
                );
                continue;
            }
        };
        let sensitive = crate::common::sensitive_expr::recorded(Some(&n), &e);
        bound.push((n, e, sensitive));
    }
    if bound.len() > 16 {
        ctx.error_at(
            bind_span,
            "`bind(...)` takes at most 16 names (the runtime's bound-field limit)",
        );
    }

    Plan {
        bind: bound,
        shape,
        event,
        name,
        target,
        level,
        tenant,
        user,
        correlation,
        fields,
        err_debug,
        err_class,
        ret,
        ret_names: Vec::new(),
        metrics,
        metric,
        buckets,
        sample,
        started,
        future,
        slo,
        field_types,
        slow_ms,
    }
}
