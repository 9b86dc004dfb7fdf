//! `#[audit]`: parse -> validate -> expand. The write-ahead logic lives in the runtime
//! (`observa::audit`); the expansion only builds the record from the listed expressions, writes
//! the `attempted` record before the body and the outcome after it.

use crate::common::fn_shape::{self, Shape};
use crate::common::{Ctx, Once, with_errors};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::Parser;

const KEYS: &str =
    "`action`, `actor`, `target`, `severity`, `reason`, `category`, `changes`, `policy`";

struct Args {
    action: Once<syn::LitStr>,
    actor: Once<syn::Expr>,
    target: Once<syn::Expr>,
    severity: Once<syn::LitStr>,
    reason: Once<syn::Expr>,
    category: Once<syn::LitStr>,
    changes: Once<(syn::Expr, syn::Expr)>,
    policy: Once<syn::LitStr>,
}

fn parse(ctx: &Ctx, tokens: TokenStream) -> Args {
    let mut a = Args {
        action: Once::new("action"),
        actor: Once::new("actor"),
        target: Once::new("target"),
        severity: Once::new("severity"),
        reason: Once::new("reason"),
        category: Once::new("category"),
        changes: Once::new("changes"),
        policy: Once::new("policy"),
    };
    let parser = syn::meta::parser(|meta| {
        let span = meta
            .path
            .segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span());
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "action" => a.action.set(ctx, span, meta.value()?.parse()?),
            "actor" => a.actor.set(ctx, span, meta.value()?.parse()?),
            "target" => a.target.set(ctx, span, meta.value()?.parse()?),
            "severity" => a.severity.set(ctx, span, meta.value()?.parse()?),
            "reason" => a.reason.set(ctx, span, meta.value()?.parse()?),
            "category" => a.category.set(ctx, span, meta.value()?.parse()?),
            "policy" => a.policy.set(ctx, span, meta.value()?.parse()?),
            "changes" => {
                let t: syn::ExprTuple = meta.value()?.parse()?;
                if t.elems.len() != 2 {
                    return Err(syn::Error::new_spanned(
                        t,
                        "`changes` takes `(before, after)`: two values recorded through `observa::Record`",
                    ));
                }
                let mut it = t.elems.into_iter();
                let (b, af) = (it.next(), it.next());
                if let (Some(b), Some(af)) = (b, af) {
                    a.changes.set(ctx, span, (b, af));
                }
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown `audit` argument `{key}`; expected one of {KEYS}"
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(tokens) {
        ctx.push(e);
    }
    a
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

pub fn audit(attr: TokenStream, item: TokenStream) -> TokenStream {
    let ctx = Ctx::default();
    let mut args = parse(&ctx, attr);
    let mut f: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[audit]` applies to functions and methods",
            );
            return with_errors(item, e);
        }
    };
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
        && !matches!(
            s.value().to_ascii_lowercase().as_str(),
            "low" | "medium" | "high" | "critical"
        )
    {
        ctx.error(
            s,
            "unknown severity; expected one of `low`, `medium`, `high`, `critical`",
        );
    }
    let policy_lit = args.policy.take();
    let degrade = match &policy_lit {
        None => false,
        Some(p) => match p.value().as_str() {
            "fail_closed" => false,
            "degrade_and_alert" => true,
            _ => {
                ctx.error(
                    p,
                    "unknown policy; expected `fail_closed` or `degrade_and_alert`",
                );
                false
            }
        },
    };
    let ret_ty = audited_return(&f.sig, &mut f.block);
    let is_result = ret_ty.as_ref().is_some_and(fn_shape::is_result);
    if !is_result {
        match &policy_lit {
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
    if ctx.has_errors() || !cfg!(feature = "enabled") {
        let out = f.into_token_stream();
        return match ctx.take() {
            Some(e) => with_errors(out, e),
            None => out,
        };
    }
    let (Some(action), Some(actor)) = (action, actor) else {
        return f.into_token_stream();
    };
    // A value with a sensitive identifier anywhere in its expression (`target = api_token`,
    // `target = api_token.as_str()`) is masked at compile time, as in `#[observed(fields(...))]`.
    let display = |e: &syn::Expr| {
        let sensitive = crate::common::sensitive_expr::recorded(None, e);
        quote!(::observa::__private::audit::display::<{ #sensitive }, _>(&(#e)))
    };
    let opt_display = |e: Option<syn::Expr>| match e {
        Some(e) => {
            let d = display(&e);
            quote!(::core::option::Option::Some(#d))
        }
        None => quote!(::core::option::Option::None),
    };
    let actor_d = display(&actor);
    let target = opt_display(args.target.take());
    let reason = opt_display(args.reason.take());
    let opt_lit = |l: Option<syn::LitStr>| match l {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let sev = opt_lit(severity);
    let cat = opt_lit(args.category.take());
    let changes = match args.changes.take() {
        Some((b, a)) => {
            // Recorded through `Record` (maps mask their sensitive keys); a side whose
            // expression names a secret (`changes = (old_password, new_password)`) is masked.
            let (sb, sa) = (
                crate::common::sensitive_expr::recorded(None, &b),
                crate::common::sensitive_expr::recorded(None, &a),
            );
            quote!(let __r = ::observa::__private::audit::changes(
                __r,
                ::observa::__private::field::<{ #sb }, _>(&(#b)),
                ::observa::__private::field::<{ #sa }, _>(&(#a)),
            );)
        }
        None => quote!(),
    };
    let record = quote! {{
        let __r = ::observa::__private::audit::record(#action, #actor_d, #target, #sev, #cat, #reason);
        #changes
        __r
    }};
    let policy = quote!(::observa::__private::audit::policy(#degrade));
    let ret: syn::Type = ret_ty.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let ann = fn_shape::annotation(&ret);
    // Spanned on the return type: a missing `From<AuditError>` points there.
    let err_span = syn::spanned::Spanned::span(&ret);
    let err_ret = quote::quote_spanned!(err_span=>
        return ::core::result::Result::Err(::core::convert::From::from(__e))
    );
    let is_async = f.sig.asyncness.is_some()
        || matches!(
            fn_shape::shape(&f.sig, &mut f.block),
            Shape::AsyncTrait { .. }
        );
    let (begin, finish_call) = if is_async {
        (
            quote!(::observa::__private::audit::AuditCall::begin_async(#record, #policy).await),
            quote!(.finish_async(__observa_audit_outcome).await),
        )
    } else {
        (
            quote!(::observa::__private::audit::AuditCall::begin(#record, #policy)),
            quote!(.finish(__observa_audit_outcome)),
        )
    };
    let (start, end, outcome) = if is_result {
        (
            quote! {
                let __observa_audit = match #begin {
                    ::core::result::Result::Ok(__a) => __a,
                    ::core::result::Result::Err(__e) => #err_ret,
                };
            },
            quote! {
                if let ::core::result::Result::Err(__e) = __observa_audit #finish_call {
                    #err_ret;
                }
            },
            quote!(::observa::__private::audit::outcome_of(
                &__observa_audit_ret
            )),
        )
    } else {
        (
            quote!(let __observa_audit = (#begin).ok();),
            quote! {
                if let ::core::option::Option::Some(__observa_audit) = __observa_audit {
                    let _ = __observa_audit #finish_call;
                }
            },
            quote!(::observa::__private::audit::Outcome::Success),
        )
    };
    let body = |inner: TokenStream| {
        quote! {{
            #start
            let __observa_audit_ret: #ann = #inner;
            let __observa_audit_outcome = #outcome;
            #end
            __observa_audit_ret
        }}
    };
    match fn_shape::shape(&f.sig, &mut f.block) {
        Shape::Sync => {
            let block = &f.block;
            let new = body(quote!((move || #block)()));
            f.block = Box::new(syn::parse_quote!(#new));
        }
        Shape::Async => {
            let block = &f.block;
            let new = body(quote!(async move #block.await));
            f.block = Box::new(syn::parse_quote!(#new));
        }
        Shape::AsyncTrait { block: inner, .. } => {
            let capture = inner.capture;
            let new = body(quote!(#inner.await));
            *inner = syn::parse_quote!(async #capture #new);
        }
    }
    f.into_token_stream()
}

fn audited_return(sig: &syn::Signature, block: &mut syn::Block) -> Option<syn::Type> {
    let declared = match &sig.output {
        syn::ReturnType::Default => None,
        syn::ReturnType::Type(_, t) => Some((**t).clone()),
    };
    match fn_shape::shape(sig, block) {
        Shape::AsyncTrait { output, .. } => output,
        _ => declared,
    }
}
