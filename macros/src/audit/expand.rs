//! Tokens only: the audited body. The write-ahead logic and the outcome plumbing live in the
//! runtime (`observa::__private::audit::call*`); the expansion builds the record from the listed
//! expressions and hands the body over, as `#[observed]` hands its body to `Call`.

use super::validate::Plan;
use crate::common::fn_shape::{self, Shape, Wrap};
use crate::common::item_fn;
use crate::common::sensitive_expr;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

/// The record of the call: every value masked at compile time when an identifier of its
/// expression is sensitive (`target = api_token.as_str()`), as in `#[observed(fields(...))]`.
fn record(plan: &Plan) -> TokenStream {
    let display = |e: &syn::Expr| {
        let sensitive = sensitive_expr::recorded(None, e);
        quote!(::observa::__private::audit::display::<{ #sensitive }, _>(&(#e)))
    };
    let opt_display = |e: Option<&syn::Expr>| match e {
        Some(e) => {
            let d = display(e);
            quote!(::core::option::Option::Some(#d))
        }
        None => quote!(::core::option::Option::None),
    };
    let opt_lit = |l: Option<&syn::LitStr>| match l {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let action = &plan.action;
    let actor = display(&plan.actor);
    let target = opt_display(plan.target.as_ref());
    let reason = opt_display(plan.reason.as_ref());
    let severity = opt_lit(plan.severity.as_ref());
    let category = opt_lit(plan.category.as_ref());
    let changes = match &plan.changes {
        Some((b, a)) => {
            // Recorded through `Record` (maps mask their sensitive keys); a side whose
            // expression names a secret (`changes = (old_password, new_password)`) is masked.
            let (sb, sa) = (
                sensitive_expr::recorded(None, b),
                sensitive_expr::recorded(None, a),
            );
            quote!(let __r = ::observa::__private::audit::changes(
                __r,
                ::observa::__private::field::<{ #sb }, _>(&(#b)),
                ::observa::__private::field::<{ #sa }, _>(&(#a)),
            );)
        }
        None => quote!(),
    };
    quote! {{
        let __r = ::observa::__private::audit::record(#action, #actor, #target, #severity, #category, #reason);
        #changes
        __r
    }}
}

/// `call*(record, policy, [from,] body)`: the runtime function for the call's kind.
fn call(plan: &Plan, kind: &str, body: TokenStream) -> TokenStream {
    let record = record(plan);
    let degrade = plan.degrade;
    let policy = quote!(::observa::__private::audit::policy(#degrade));
    if plan.is_result {
        let name = quote::format_ident!("call{}", kind);
        // Spanned on the return type: a missing `From<AuditError>` points there.
        let value = plan.value.clone().unwrap_or_else(|| syn::parse_quote!(()));
        let from =
            quote_spanned!(syn::spanned::Spanned::span(&value)=> ::core::convert::From::from);
        quote!(::observa::__private::audit::#name(#record, #policy, #from, #body))
    } else {
        let name = quote::format_ident!("call_plain{}", kind);
        quote!(::observa::__private::audit::#name(#record, #policy, #body))
    }
}

/// Rewrites the function's body.
pub fn expand(plan: &Plan, f: &mut syn::ItemFn) {
    let value = plan.value.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let ann = fn_shape::annotation(&value);
    if let Some(fut) = &plan.returned {
        // The `attempted` record when the function is called, the outcome when the returned
        // future completes.
        let decl = fn_shape::annotation(&fn_shape::declared(&f.sig));
        let block = &f.block;
        let audited = call(plan, "_future", quote!(move || -> #decl #block));
        let wrapped = match fut.wrap {
            Wrap::None => audited,
            Wrap::Pin => quote!(::observa::__private::pinned(#audited)),
            Wrap::Dyn => {
                let span = fn_shape::type_name_span(&fn_shape::declared(&f.sig));
                quote_spanned!(span=> ::observa::__private::audit::box_future(#audited))
            }
        };
        *f.block = item_fn::block(quote!({ #wrapped }));
        return;
    }
    match fn_shape::shape(&f.sig, &mut f.block) {
        Shape::Sync | Shape::AsyncTrait { .. } if !plan.is_async => {
            let block = &f.block;
            let audited = call(plan, "", quote!(move || #block));
            // A boxed future behind an alias would be audited as its creation: refused,
            // spanned on the return type (compile time only; nothing runs).
            let span = fn_shape::type_name_span(&fn_shape::declared(&f.sig));
            let check = if item_fn::is_raw(&f.block) {
                TokenStream::new()
            } else {
                quote_spanned! {span=>
                    ::observa::__private::audit::not_a_boxed_future(
                        (&::observa::__private::SyncCheck(&__observa_audit_ret))
                            .__observa_sync(),
                    );
                }
            };
            let new = quote! {{
                let __observa_audit_ret: #ann = #audited;
                #[allow(unused_imports)]
                use ::observa::__private::SyncVia as _;
                #check
                __observa_audit_ret
            }};
            *f.block = item_fn::block(new);
        }
        Shape::Async | Shape::Sync => {
            let block = &f.block;
            let audited = call(plan, "_async", quote!(async move #block));
            *f.block = item_fn::block(quote!({
                let __observa_audit_ret: #ann = #audited.await;
                __observa_audit_ret
            }));
        }
        Shape::AsyncTrait { block: inner, .. } => {
            let capture = inner.capture;
            let audited = call(plan, "_async", quote!(#inner));
            *inner = syn::parse_quote!(async #capture {
                let __observa_audit_ret: #ann = #audited.await;
                __observa_audit_ret
            });
        }
    }
}
