//! Cross-argument rules: turns [`Args`] plus the function into a [`Plan`].

use super::args::Args;
use crate::common::Ctxt;
use crate::common::fn_shape::{self, ReturnedFuture, Shape};
use crate::common::kw::{self, audit as k};
use proc_macro2::Span;
use quote::ToTokens;

/// What the expansion needs, checked.
pub struct Plan {
    pub action: syn::LitStr,
    pub actor: syn::Expr,
    pub target: Option<syn::Expr>,
    pub reason: Option<syn::Expr>,
    pub severity: Option<syn::LitStr>,
    pub category: Option<syn::LitStr>,
    pub changes: Option<(syn::Expr, syn::Expr)>,
    /// `policy = "degrade_and_alert"`.
    pub degrade: bool,
    /// An `async fn`, or the output of `#[async_trait]`: the `attempted` record is written when
    /// the future first runs.
    pub is_async: bool,
    /// A sync function that returns a future: audited when the future completes.
    pub returned: Option<ReturnedFuture>,
    /// The value the call produces (`None` for `()`).
    pub value: Option<syn::Type>,
    /// `value` is a `Result`: its outcome is read from it and audit failures become its `Err`.
    pub is_result: bool,
}

fn valid_action(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// Validates; errors go to `ctx`. `None` when the call cannot be expanded.
pub fn plan(ctx: &Ctxt, mut args: Args, f: &mut syn::ItemFn) -> Option<Plan> {
    if let Some(c) = &f.sig.constness {
        ctx.error(
            c,
            "`#[audit]` cannot be used on a `const fn`; remove `const`",
        );
    }
    let action = args.action.take();
    match &action {
        None if !ctx.has_errors() => ctx.error_at(
            Span::call_site(),
            "`#[audit]` needs `action = \"...\"`: a stable dotted name such as `user.suspend`",
        ),
        None => {}
        Some(a) if !valid_action(&a.value()) => ctx.error(
            a,
            format!(
                "invalid action `{}`; use lowercase dotted words such as `user.suspend`",
                a.value()
            ),
        ),
        _ => {}
    }
    let actor = args.actor.take();
    if actor.is_none() && action.is_some() {
        ctx.error_at(
            Span::call_site(),
            "`#[audit]` needs `actor = <expr>`: who performs the action (e.g. `actor = admin.id`)",
        );
    }
    let severity = args.severity.take();
    if let Some(s) = &severity
        && !k::SEVERITIES.contains(&s.value().to_ascii_lowercase().as_str())
    {
        ctx.error(
            s,
            format!(
                "unknown severity; expected one of {}",
                kw::list(k::SEVERITIES)
            ),
        );
    }
    let policy = args.policy.take();
    let degrade = match &policy {
        None => false,
        Some(p) => match p.value().as_str() {
            k::policy::FAIL_CLOSED => false,
            k::policy::DEGRADE_AND_ALERT => true,
            _ => {
                ctx.error(
                    p,
                    format!("unknown policy; expected {}", kw::or_list(k::policy::ALL)),
                );
                false
            }
        },
    };
    let future_span = args.future.span();
    let future_flag = args.future.take().is_some();
    // `#[async_trait]` output (an `async fn` in the source) is audited as one: the `attempted`
    // record when the future first runs. A hand-written `Box::pin(async move { .. })` is a
    // returned future like any other: the `attempted` record when the function is called.
    let is_async = f.sig.asyncness.is_some()
        || (matches!(
            fn_shape::shape(&f.sig, &mut f.block),
            Shape::AsyncTrait { .. }
        ) && fn_shape::from_async_trait(&f.sig.output));
    if let (Some(s), true) = (future_span, is_async) {
        ctx.error_at(
            s,
            "`future` is for functions that return a boxed future behind a type alias; an `async fn` is audited when it completes already, remove `future`",
        );
    }
    let returned = if is_async {
        None
    } else {
        fn_shape::returned_future(&f.sig.output, future_flag)
    };
    let value = fn_shape::value_type(&f.sig, &mut f.block, future_flag && !is_async);
    let is_result = value.as_ref().is_some_and(fn_shape::is_result);
    if !is_result {
        let type_name = type_name(&f.sig.output);
        match &policy {
            None if !is_async && returned.is_none() && fn_shape::names_a_future(&f.sig.output) => ctx.error(
                &type_name,
                "`#[audit]` cannot see that this function returns a future: it would record the creation of the future, not its outcome; write `#[audit(future)]` when the type is an alias of `Pin<Box<dyn Future<Output = T> + ..>>`",
            ),
            None if returned.as_ref().is_some_and(|r| matches!(r.output, syn::Type::Infer(_))) => ctx.error(
                &type_name,
                "`#[audit(future)]` cannot read the output of this future type; spell it as the last type argument (`BoxFuture<'a, Result<T, E>>`) or add `policy = \"degrade_and_alert\"`",
            ),
            None => ctx.error(
                match &f.sig.output {
                    syn::ReturnType::Type(_, t) => t.to_token_stream(),
                    syn::ReturnType::Default => f.sig.ident.to_token_stream(),
                },
                "`#[audit]` on a function that does not return `Result` must name its failure policy: add `policy = \"degrade_and_alert\"`, or return `Result<_, E>` with `E: From<observa::audit::AuditError>` to fail closed",
            ),
            Some(p) if !degrade => ctx.error(
                p,
                "`fail_closed` needs a `Result` return to report that the audit record could not be written; return `Result<_, E>` with `E: From<observa::audit::AuditError>` or use `policy = \"degrade_and_alert\"`",
            ),
            _ => {}
        }
    }
    Some(Plan {
        action: action?,
        actor: actor?,
        target: args.target.take(),
        reason: args.reason.take(),
        severity,
        category: args.category.take(),
        changes: args.changes.take(),
        degrade,
        is_async,
        returned,
        value,
        is_result,
    })
}

/// The tokens of the return type's name (what errors about it are spanned on): the last
/// segment of a path type (`BoxFuture` in `futures::future::BoxFuture<'a, T>`), else the type.
fn type_name(ret: &syn::ReturnType) -> proc_macro2::TokenStream {
    match ret {
        syn::ReturnType::Type(_, t) => match &**t {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map_or_else(|| t.to_token_stream(), |s| s.ident.to_token_stream()),
            t => t.to_token_stream(),
        },
        syn::ReturnType::Default => proc_macro2::TokenStream::new(),
    }
}
