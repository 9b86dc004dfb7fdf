//! Parsing `#[observed(...)]` arguments into [`Args`].

use crate::common::kw::{self, observed as k};
use crate::common::{Ctxt, Once};
use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Token, parenthesized};

/// A context binding: `tenant` (from the argument of that name) or `tenant = expr`.
pub enum BindArg {
    Implicit(Span),
    Expr(syn::Expr),
}

/// One entry of `fields(...)` (also of `bind(...)`, `labels(...)`, `outcomes(...)`).
#[derive(Clone)]
pub struct FieldArg {
    pub name: syn::Ident,
    /// `None`: the argument of that name.
    pub value: Option<syn::Expr>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ErrRender {
    Display,
    Debug,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ErrClass {
    Client,
    Server,
}

/// `slo(success = 99.9, latency_ms = 250, percentile = 99, window = "30d")`: numbers with the
/// span of their literal (checked in `validate`).
pub struct SloArg {
    pub span: Span,
    pub success: Option<(f64, Span)>,
    pub latency_ms: Option<(f64, Span)>,
    pub percentile: Option<(f64, Span)>,
    pub window: Option<syn::LitStr>,
}

pub struct ErrArg {
    pub span: Span,
    pub render: ErrRender,
    pub class: Option<ErrClass>,
}

/// The parsed attribute.
pub struct Args {
    pub event: Once<syn::LitStr>,
    pub name: Once<syn::LitStr>,
    pub level: Once<syn::LitStr>,
    pub target: Once<syn::LitStr>,
    pub tenant: Once<BindArg>,
    pub user: Once<BindArg>,
    pub correlation: Once<BindArg>,
    pub fields: Once<Vec<FieldArg>>,
    /// Bare `skip`: the function is not instrumented (per-method opt-out).
    pub skip_fn: Once<()>,
    pub skip: Once<Vec<syn::Ident>>,
    pub err: Once<ErrArg>,
    pub ret: Once<()>,
    pub metrics: Once<syn::LitBool>,
    pub metric: Once<syn::LitStr>,
    pub buckets: Once<Vec<(f64, Span)>>,
    pub sample: Once<(f64, Span)>,
    pub started: Once<()>,
    /// `future`: the function returns a boxed future behind a type alias; instrument it.
    pub future: Once<()>,
    pub slo: Once<SloArg>,
    /// `slow_ms = N`: a successful completion slower than N ms is written at WARN.
    pub slow_ms: Once<(u64, Span)>,
    /// `bind(job_id, job_type = "shopify_sync")`: named values bound for the call.
    pub bind: Once<Vec<FieldArg>>,
    /// `labels(job_type = "shopify_sync")`: constant metric labels.
    pub labels: Once<Vec<FieldArg>>,
    /// `outcome_label = "status"`.
    pub outcome_label: Once<syn::LitStr>,
    /// `outcomes(ok = "completed", failed = "failed")`.
    pub outcomes: Once<Vec<FieldArg>>,
    /// `duration_metric = "worker_job_duration_seconds"`.
    pub duration_metric: Once<syn::LitStr>,
}

impl Args {
    pub fn empty() -> Args {
        Args {
            event: Once::new(k::EVENT),
            name: Once::new(k::NAME),
            level: Once::new(k::LEVEL),
            target: Once::new(k::TARGET),
            tenant: Once::new(k::TENANT),
            user: Once::new(k::USER),
            correlation: Once::new(k::CORRELATION),
            fields: Once::new(k::FIELDS),
            skip_fn: Once::new(k::SKIP),
            skip: Once::new(k::SKIP),
            err: Once::new(k::ERR),
            ret: Once::new(k::RET),
            metrics: Once::new(k::METRICS),
            metric: Once::new(k::METRIC),
            buckets: Once::new(k::BUCKETS),
            sample: Once::new(k::SAMPLE),
            started: Once::new(k::STARTED),
            future: Once::new(k::FUTURE),
            slo: Once::new(k::SLO),
            slow_ms: Once::new(k::SLOW_MS),
            bind: Once::new(k::BIND),
            labels: Once::new(k::LABELS),
            outcome_label: Once::new(k::OUTCOME_LABEL),
            outcomes: Once::new(k::OUTCOMES),
            duration_metric: Once::new(k::DURATION_METRIC),
        }
    }

    /// Parses the attribute's tokens; errors go to `ctx`.
    pub fn parse(ctx: &Ctxt, tokens: TokenStream) -> Args {
        let mut args = Args::empty();
        let parser = syn::meta::parser(|meta| {
            let span = meta
                .path
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span());
            let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
                return Err(meta.error(format!(
                    "unknown `observed` argument; expected one of {}",
                    kw::list(k::ALL)
                )));
            };
            match key.as_str() {
                k::EVENT => args.event.set(ctx, span, meta.value()?.parse()?),
                k::NAME => args.name.set(ctx, span, meta.value()?.parse()?),
                k::LEVEL => args.level.set(ctx, span, meta.value()?.parse()?),
                k::TARGET => args.target.set(ctx, span, meta.value()?.parse()?),
                k::TENANT => args.tenant.set(ctx, span, bind(&meta, span)?),
                k::USER => args.user.set(ctx, span, bind(&meta, span)?),
                k::CORRELATION => args.correlation.set(ctx, span, bind(&meta, span)?),
                k::FIELDS => {
                    let content;
                    parenthesized!(content in meta.input);
                    let list = Punctuated::<FieldArg, Token![,]>::parse_terminated_with(
                        &content,
                        parse_field,
                    )?;
                    args.fields.set(ctx, span, list.into_iter().collect());
                }
                k::SKIP => {
                    if meta.input.peek(syn::token::Paren) {
                        let content;
                        parenthesized!(content in meta.input);
                        let list = Punctuated::<syn::Ident, Token![,]>::parse_terminated(&content)?;
                        args.skip.set(ctx, span, list.into_iter().collect());
                    } else {
                        args.skip_fn.set(ctx, span, ());
                    }
                }
                k::ERR => {
                    let mut e = ErrArg {
                        span,
                        render: ErrRender::Display,
                        class: None,
                    };
                    if meta.input.peek(syn::token::Paren) {
                        meta.parse_nested_meta(|inner| {
                            let what = inner.path.get_ident().map(ToString::to_string);
                            match what.as_deref() {
                                Some(k::err::DISPLAY) => e.render = ErrRender::Display,
                                Some(k::err::DEBUG) => e.render = ErrRender::Debug,
                                Some(k::err::CLIENT) => e.class = Some(ErrClass::Client),
                                Some(k::err::SERVER) => e.class = Some(ErrClass::Server),
                                _ => {
                                    return Err(inner.error(format!(
                                        "unknown `err` option; expected {}",
                                        kw::or_list(k::err::ALL)
                                    )));
                                }
                            }
                            Ok(())
                        })?;
                    }
                    args.err.set(ctx, span, e);
                }
                k::RET => args.ret.set(ctx, span, ()),
                k::METRICS => args.metrics.set(ctx, span, meta.value()?.parse()?),
                k::METRIC => args.metric.set(ctx, span, meta.value()?.parse()?),
                k::BUCKETS => {
                    let v = meta.value()?;
                    let arr: syn::ExprArray = v.parse()?;
                    let mut out = Vec::new();
                    for e in &arr.elems {
                        match number(e) {
                            Some(n) => out.push((n, syn::spanned::Spanned::span(e))),
                            None => {
                                return Err(syn::Error::new_spanned(
                                    e,
                                    "`buckets` takes number literals in seconds, e.g. `buckets = [0.01, 0.1, 1.0]`",
                                ));
                            }
                        }
                    }
                    args.buckets.set(ctx, span, out);
                }
                k::SAMPLE => {
                    let e: syn::Expr = meta.value()?.parse()?;
                    match number(&e) {
                        Some(n) => args
                            .sample
                            .set(ctx, span, (n, syn::spanned::Spanned::span(&e))),
                        None => {
                            return Err(syn::Error::new_spanned(
                                e,
                                "`sample` takes a number in (0, 1], the fraction of successful calls logged",
                            ));
                        }
                    }
                }
                k::BIND | k::LABELS | k::OUTCOMES => {
                    if !meta.input.peek(syn::token::Paren) {
                        return Err(meta.error(format!(
                            "`{key}` takes a list in parentheses, e.g. {}",
                            match key.as_str() {
                                k::BIND => "`bind(job_id, job_type = \"shopify_sync\")`",
                                k::LABELS => "`labels(job_type = \"shopify_sync\")`",
                                _ => "`outcomes(ok = \"completed\", failed = \"failed\")`",
                            }
                        )));
                    }
                    let content;
                    parenthesized!(content in meta.input);
                    let list: Vec<FieldArg> =
                        Punctuated::<FieldArg, Token![,]>::parse_terminated_with(
                            &content,
                            parse_field,
                        )?
                        .into_iter()
                        .collect();
                    match key.as_str() {
                        k::BIND => args.bind.set(ctx, span, list),
                        k::LABELS => args.labels.set(ctx, span, list),
                        _ => args.outcomes.set(ctx, span, list),
                    }
                }
                k::OUTCOME_LABEL => args.outcome_label.set(ctx, span, meta.value()?.parse()?),
                k::DURATION_METRIC => args.duration_metric.set(ctx, span, meta.value()?.parse()?),
                k::STARTED => args.started.set(ctx, span, ()),
                k::FUTURE => args.future.set(ctx, span, ()),
                k::SLO => args.slo.set(ctx, span, parse_slo(ctx, &meta, span)?),
                k::SLOW_MS => {
                    let e: syn::Expr = meta.value()?.parse()?;
                    let n = match &e {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Int(i),
                            ..
                        }) if i.suffix().is_empty() || i.suffix() == "u64" => {
                            i.base10_parse::<u64>().ok()
                        }
                        _ => None,
                    };
                    match n {
                        Some(n) => {
                            args.slow_ms
                                .set(ctx, span, (n, syn::spanned::Spanned::span(&e)))
                        }
                        None => {
                            return Err(syn::Error::new_spanned(
                                e,
                                "`slow_ms` takes a whole number of milliseconds, e.g. `slow_ms = 250`",
                            ));
                        }
                    }
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown `observed` argument `{key}`; expected one of {}",
                        kw::list(k::ALL)
                    )));
                }
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(tokens) {
            ctx.push(e);
        }
        args
    }
}

fn bind(meta: &syn::meta::ParseNestedMeta<'_>, span: Span) -> syn::Result<BindArg> {
    if meta.input.peek(Token![=]) {
        Ok(BindArg::Expr(meta.value()?.parse()?))
    } else {
        Ok(BindArg::Implicit(span))
    }
}

fn parse_slo(ctx: &Ctxt, meta: &syn::meta::ParseNestedMeta<'_>, span: Span) -> syn::Result<SloArg> {
    let mut slo = SloArg {
        span,
        success: None,
        latency_ms: None,
        percentile: None,
        window: None,
    };
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "`slo` takes objectives in parentheses, e.g. `slo(success = 99.9, latency_ms = 250, percentile = 99)`; keys: {}",
            kw::list(k::slo::ALL)
        )));
    }
    meta.parse_nested_meta(|inner| {
        let key = inner.path.get_ident().map(ToString::to_string);
        let kspan = inner
            .path
            .segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span());
        let num =
            |inner: &syn::meta::ParseNestedMeta<'_>, what: &str| -> syn::Result<(f64, Span)> {
                let e: syn::Expr = inner.value()?.parse()?;
                match number(&e) {
                    Some(n) => Ok((n, syn::spanned::Spanned::span(&e))),
                    None => Err(syn::Error::new_spanned(
                        e,
                        format!("`{what}` takes a number literal, e.g. `{what} = 99`"),
                    )),
                }
            };
        let dup = |k: &str| {
            ctx.error_at(kspan, format!("`{k}` is given twice in `slo`; keep one"));
        };
        match key.as_deref() {
            Some(k::slo::SUCCESS) => {
                let v = num(&inner, "success")?;
                if slo.success.replace(v).is_some() {
                    dup("success");
                }
            }
            Some(k::slo::LATENCY_MS) => {
                let v = num(&inner, "latency_ms")?;
                if slo.latency_ms.replace(v).is_some() {
                    dup("latency_ms");
                }
            }
            Some(k::slo::PERCENTILE) => {
                let v = num(&inner, "percentile")?;
                if slo.percentile.replace(v).is_some() {
                    dup("percentile");
                }
            }
            Some(k::slo::WINDOW) => {
                let v: syn::LitStr = inner.value()?.parse()?;
                if slo.window.replace(v).is_some() {
                    dup("window");
                }
            }
            other => {
                let shown = other.map(|k| format!(" `{k}`")).unwrap_or_default();
                return Err(inner.error(format!(
                    "unknown `slo` key{shown}; expected one of {}",
                    kw::list(k::slo::ALL)
                )));
            }
        }
        Ok(())
    })?;
    Ok(slo)
}

fn parse_field(input: ParseStream<'_>) -> syn::Result<FieldArg> {
    let name: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
    let value = if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Some(input.parse()?)
    } else {
        None
    };
    Ok(FieldArg { name, value })
}

fn number(e: &syn::Expr) -> Option<f64> {
    match e {
        syn::Expr::Lit(l) => match &l.lit {
            syn::Lit::Float(f) => f.base10_parse().ok(),
            syn::Lit::Int(i) => i.base10_parse::<u64>().ok().map(|v| v as f64),
            _ => None,
        },
        _ => None,
    }
}

/// Applies `method` over `base` (impl-level arguments): every key given on the method wins.
pub fn merge(base: &Args, method: Args, ctx: &Ctxt) -> Args {
    let _ = ctx;
    let mut m = method;
    macro_rules! inherit_lit {
        ($($f:ident),*) => {$(
            if !m.$f.is_set()
                && let (Some(v), Some(s)) = (base.$f.get(), base.$f.span())
            {
                m.$f.set(ctx, s, v.clone());
            }
        )*};
    }
    inherit_lit!(
        level,
        target,
        metrics,
        metric,
        labels,
        outcome_label,
        outcomes,
        duration_metric
    );
    if !m.err.is_set()
        && let (Some(e), Some(s)) = (base.err.get(), base.err.span())
    {
        m.err.set(
            ctx,
            s,
            ErrArg {
                span: e.span,
                render: e.render,
                class: e.class,
            },
        );
    }
    if !m.buckets.is_set()
        && let (Some(b), Some(s)) = (base.buckets.get(), base.buckets.span())
    {
        m.buckets.set(ctx, s, b.clone());
    }
    if !m.sample.is_set()
        && let (Some(b), Some(s)) = (base.sample.get(), base.sample.span())
    {
        m.sample.set(ctx, s, *b);
    }
    if !m.started.is_set() && base.started.is_set() {
        m.started
            .set(ctx, base.started.span().unwrap_or_else(Span::call_site), ());
    }
    if !m.slo.is_set()
        && let (Some(b), Some(s)) = (base.slo.get(), base.slo.span())
    {
        m.slo.set(
            ctx,
            s,
            SloArg {
                span: b.span,
                success: b.success,
                latency_ms: b.latency_ms,
                percentile: b.percentile,
                window: b.window.clone(),
            },
        );
    }
    if !m.slow_ms.is_set()
        && let (Some(b), Some(s)) = (base.slow_ms.get(), base.slow_ms.span())
    {
        m.slow_ms.set(ctx, s, *b);
    }
    if !m.ret.is_set() && base.ret.is_set() {
        m.ret
            .set(ctx, base.ret.span().unwrap_or_else(Span::call_site), ());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the messages list is accepted by the parser (the lists cannot drift).
    #[test]
    fn every_listed_key_is_known() {
        for key in k::ALL {
            let ctx = Ctxt::new();
            let _ = Args::parse(&ctx, key.parse().unwrap());
            if let Err(e) = ctx.check() {
                assert!(!e.to_string().contains("unknown"), "{key}: {e}");
            }
        }
        for key in k::slo::ALL {
            let ctx = Ctxt::new();
            let _ = Args::parse(&ctx, format!("slo({key} = 1)").parse().unwrap());
            if let Err(e) = ctx.check() {
                assert!(!e.to_string().contains("unknown"), "{key}: {e}");
            }
        }
        for opt in k::err::ALL {
            let ctx = Ctxt::new();
            let _ = Args::parse(&ctx, format!("err({opt})").parse().unwrap());
            assert!(ctx.check().is_ok(), "{opt}");
        }
        let ctx = Ctxt::new();
        let _ = Args::parse(&ctx, "nope".parse().unwrap());
        assert!(
            ctx.check()
                .unwrap_err()
                .to_string()
                .contains("expected one of `event`")
        );
    }
}
