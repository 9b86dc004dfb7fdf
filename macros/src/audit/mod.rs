//! `#[audit]`: parse -> validate -> expand. The write-ahead logic lives in the runtime
//! (`observa::audit`); the expansion only builds the record from the listed expressions, writes
//! the `attempted` record before the body and the outcome after it.

use crate::common::fn_shape::{self, Shape};
use crate::common::{Ctx, Once, with_errors};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::Parser;

const KEYS: &str =
    "`action`, `actor`, `target`, `severity`, `reason`, `category`, `changes`, `policy`, `future`";

struct Args {
    action: Once<syn::LitStr>,
    actor: Once<syn::Expr>,
    target: Once<syn::Expr>,
    severity: Once<syn::LitStr>,
    reason: Once<syn::Expr>,
    category: Once<syn::LitStr>,
    changes: Once<(syn::Expr, syn::Expr)>,
    policy: Once<syn::LitStr>,
    /// `future`: the function returns a boxed future behind a type alias.
    future: Once<()>,
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
        future: Once::new("future"),
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
            "future" => a.future.set(ctx, span, ()),
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
    let future_span = args.future.span();
    let future_flag = args.future.take().is_some();
    // `#[async_trait]` output (an `async fn` in the source) is audited as one: the `attempted`
    // record when the future first runs. A hand-written `Box::pin(async move { .. })` is a
    // returned future like any other: the `attempted` record when the function is called.
    let is_async = f.sig.asyncness.is_some()
        || (matches!(
            fn_shape::shape(&f.sig, &mut f.block),
            Shape::AsyncTrait { .. }
        ) && from_async_trait(&f.sig.output));
    if let (Some(s), true) = (future_span, is_async) {
        ctx.error_at(
            s,
            "`future` is for functions that return a boxed future behind a type alias; an `async fn` is audited when it completes already, remove `future`",
        );
    }
    // A sync function that returns a future: audited when the future completes.
    let returned = if is_async {
        None
    } else {
        fn_shape::returned_future(&f.sig.output, future_flag)
    };
    let ret_ty = match &returned {
        Some(r) => Some(r.output.clone()),
        None => audited_return(&f.sig, &mut f.block),
    };
    let is_result = ret_ty.as_ref().is_some_and(fn_shape::is_result);
    if !is_result {
        match &policy_lit {
            None if !is_async && returned.is_none() && names_a_future(&f.sig.output) => ctx.error(
                fn_shape_type_name(&f.sig.output),
                "`#[audit]` cannot see that this function returns a future: it would record the creation of the future, not its outcome; write `#[audit(future)]` when the type is an alias of `Pin<Box<dyn Future<Output = T> + ..>>`",
            ),
            None if returned.as_ref().is_some_and(|r| matches!(r.output, syn::Type::Infer(_))) => ctx.error(
                fn_shape_type_name(&f.sig.output),
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
    // A returned future: the `attempted` record is written when the function is called (sync),
    // the outcome when the future completes (async, inside it).
    let begin = if is_async {
        quote!(::observa::__private::audit::AuditCall::begin_async(#record, #policy).await)
    } else {
        quote!(::observa::__private::audit::AuditCall::begin(#record, #policy))
    };
    let finish_call = if is_async || returned.is_some() {
        quote!(.finish_async(__observa_audit_outcome).await)
    } else {
        quote!(.finish(__observa_audit_outcome))
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
    if let Some(fut) = &returned {
        let new = future_body(&f, fut, &begin, &end, &outcome, &ann, &err_ret, is_result);
        f.block = Box::new(syn::parse_quote!(#new));
        return f.into_token_stream();
    }
    match fn_shape::shape(&f.sig, &mut f.block) {
        Shape::Sync | Shape::AsyncTrait { .. } if !is_async => {
            let block = &f.block;
            // A boxed future behind an alias would be audited as its creation: refused,
            // spanned on the return type (compile time only; nothing runs).
            let check = quote::quote_spanned! {type_name_span(&f.sig.output)=>
                ::observa::__private::audit::not_a_boxed_future(
                    (&::observa::__private::audit::AuditSyncCheck(&__observa_audit_ret))
                        .__observa_audit_sync(),
                );
            };
            let inner = quote! {{
                #[allow(clippy::redundant_closure_call)]
                let __observa_audit_ret: #ann = (move || #block)();
                #[allow(unused_imports)]
                use ::observa::__private::audit::{AuditSyncViaAny as _, AuditSyncViaBoxed as _};
                #check
                __observa_audit_ret
            }};
            let new = body(inner);
            f.block = Box::new(syn::parse_quote!(#new));
        }
        Shape::Async | Shape::Sync => {
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

/// The new body of a sync function that returns a future: the `attempted` record is written
/// when the function is called (under `fail_closed` a failure is the future's `Err`, and the
/// function's own code does not run); the outcome record when the returned future completes.
/// Dropped before that, the call is recorded as a `cancelled` failure; a panicking poll as a
/// `panic` failure.
#[allow(clippy::too_many_arguments)]
fn future_body(
    f: &syn::ItemFn,
    fut: &fn_shape::ReturnedFuture,
    begin: &TokenStream,
    end: &TokenStream,
    outcome: &TokenStream,
    ann: &syn::Type,
    err_ret: &TokenStream,
    is_result: bool,
) -> TokenStream {
    let declared: syn::Type = match &f.sig.output {
        syn::ReturnType::Type(_, t) => (**t).clone(),
        syn::ReturnType::Default => syn::parse_quote!(()),
    };
    let decl_ann = fn_shape::annotation(&declared);
    let block = &f.block;
    let (state, unpack) = if is_result {
        (
            quote! {
                match __observa_begin {
                    ::core::result::Result::Ok(__a) => ::core::result::Result::Ok(
                        (__a, (move || -> #decl_ann #block)()),
                    ),
                    ::core::result::Result::Err(__e) => ::core::result::Result::Err(__e),
                }
            },
            quote! {
                let (__observa_audit, __observa_fut) = match __observa_state {
                    ::core::result::Result::Ok(__v) => __v,
                    ::core::result::Result::Err(__e) => #err_ret,
                };
            },
        )
    } else {
        (
            quote!((__observa_begin.ok(), (move || -> #decl_ann #block)())),
            quote!(let (__observa_audit, __observa_fut) = __observa_state;),
        )
    };
    let inner = quote! {
        async move {
            #unpack
            let __observa_audit_ret: #ann = __observa_fut.await;
            let __observa_audit_outcome = #outcome;
            #end
            __observa_audit_ret
        }
    };
    let wrapped = match fut.wrap {
        fn_shape::Wrap::None => inner,
        fn_shape::Wrap::Pin => quote!(::observa::__private::pinned(#inner)),
        fn_shape::Wrap::Dyn => quote::quote_spanned!(type_name_span(&f.sig.output)=>
            ::observa::__private::audit::box_future(#inner)
        ),
    };
    quote! {{
        let __observa_begin = #begin;
        #[allow(clippy::redundant_closure_call)]
        let __observa_state = #state;
        #wrapped
    }}
}

/// Where an error about the return type points: the name of a path type (`BoxFuture` in
/// `futures::future::BoxFuture<'a, T>`), else the type's first token.
fn type_name_span(ret: &syn::ReturnType) -> Span {
    match ret {
        syn::ReturnType::Type(_, t) => match &**t {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map_or_else(|| syn::spanned::Spanned::span(t), |s| s.ident.span()),
            t => syn::spanned::Spanned::span(t),
        },
        syn::ReturnType::Default => Span::call_site(),
    }
}

/// The tokens of the return type's name (what errors about it are spanned on).
fn fn_shape_type_name(ret: &syn::ReturnType) -> TokenStream {
    match ret {
        syn::ReturnType::Type(_, t) => match &**t {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map_or_else(|| t.to_token_stream(), |s| s.ident.to_token_stream()),
            t => t.to_token_stream(),
        },
        syn::ReturnType::Default => TokenStream::new(),
    }
}

/// A path type whose name ends in `Future` with type arguments (`BoxFuture<'a, T>`,
/// `LocalBoxFuture<'a, T>`): most likely a boxed future behind an alias.
fn names_a_future(ret: &syn::ReturnType) -> bool {
    let syn::ReturnType::Type(_, t) = ret else {
        return false;
    };
    let syn::Type::Path(p) = &**t else {
        return false;
    };
    p.path.segments.last().is_some_and(|s| {
        s.ident.to_string().ends_with("Future")
            && matches!(&s.arguments, syn::PathArguments::AngleBracketed(a)
                if a.args.iter().any(|g| matches!(g, syn::GenericArgument::Type(_))))
    })
}

/// The return type of a method `#[async_trait]` rewrote (it names the `'async_trait` lifetime).
fn from_async_trait(ret: &syn::ReturnType) -> bool {
    fn has(ts: TokenStream) -> bool {
        ts.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "async_trait",
            proc_macro2::TokenTree::Group(g) => has(g.stream()),
            _ => false,
        })
    }
    has(ret.to_token_stream())
}
