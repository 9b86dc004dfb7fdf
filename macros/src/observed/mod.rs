//! `#[observed]`: parse -> validate -> expand.

mod args;
mod expand;
mod validate;

use crate::common::attr_path::{AUDIT, OBSERVED};
use crate::common::fn_shape::{is_result, value_type};
use crate::common::item_fn::MaybeItemFn;
use crate::common::{Ctxt, with_errors};
use args::Args;
use proc_macro2::TokenStream;
use quote::ToTokens;

pub fn observed(attr: TokenStream, item: TokenStream) -> TokenStream {
    let ctx = Ctxt::new();
    let args = Args::parse(&ctx, attr.clone());
    let parsed: syn::Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        // A function (or a method of an `impl` block) whose body does not parse: the body is
        // kept as raw tokens (`common::item_fn`), so rustc reports its syntax error once.
        Err(e) => match MaybeItemFn::parse(item.clone()) {
            Ok(f) => syn::Item::Fn(f.into_inner()),
            Err(_) => match crate::common::item_fn::parse_impl(item.clone()) {
                Some(imp) => syn::Item::Impl(imp),
                None => {
                    let _ = ctx.check();
                    return with_errors(item, e);
                }
            },
        },
    };
    let out = match parsed {
        syn::Item::Fn(mut f) => {
            if args.skip_fn.is_set() {
                return ctx.finish(f.into_token_stream());
            }
            // `#[observed]` above `#[audit]`: let `#[audit]` expand first so the audit record is
            // written inside the call's context (tenant, correlation), whatever the order.
            if !ctx.has_errors()
                && let Some(i) = f.attrs.iter().position(|a| AUDIT.is(a))
            {
                let _ = ctx.check();
                let audit_attr = f.attrs.remove(i);
                return quote::quote!(#audit_attr #[::observa::observed(#attr)] #f);
            }
            let name = f.sig.ident.to_string();
            let ret = value_type(&f.sig, &mut f.block, args.future.is_set());
            let mut plan = validate::plan(&ctx, args, &f.sig, ret.as_ref(), name);
            plan.ret_names = crate::common::sensitive_expr::returned(&f.sig, &f.block);
            if !ctx.has_errors() {
                apply(&plan, &f.sig, &mut f.block);
            }
            f.into_token_stream()
        }
        syn::Item::Impl(mut imp) => {
            impl_block(&ctx, args, &mut imp);
            imp.into_token_stream()
        }
        other => {
            ctx.error(
                &other,
                "`#[observed]` applies to functions, methods and `impl` blocks",
            );
            other.into_token_stream()
        }
    };
    ctx.finish(out)
}

/// Instruments the body, or, with instrumentation off, only names what the attribute reads.
fn apply(plan: &validate::Plan, sig: &syn::Signature, block: &mut syn::Block) {
    if cfg!(feature = "enabled") {
        expand::instrument(plan, sig, block);
    } else {
        let exprs = [&plan.tenant, &plan.user, &plan.correlation]
            .into_iter()
            .flatten()
            .chain(plan.fields.iter().map(|(_, e)| e))
            .chain(plan.bind.iter().map(|(_, e, _)| e));
        crate::common::mention_when_disabled(block, exprs);
    }
}

/// `#[observed]` on an `impl` block: every method, with per-method arguments (or `skip`).
/// An impl-level `event = "x"` is a prefix: methods get `x.<method>`.
fn impl_block(ctx: &Ctxt, mut base: Args, imp: &mut syn::ItemImpl) {
    let prefix = base.event.take().map(|l| l.value());
    if let Some(s) = base.future.span() {
        ctx.error_at(
            s,
            "`future` describes the return type of one function; put it on the method, not the `impl` block",
        );
    }
    if let Some(s) = base.fields.span() {
        ctx.error_at(
            s,
            "`fields` names arguments of one function; put it on the method, not the `impl` block",
        );
    }
    for k in [
        base.tenant.span(),
        base.user.span(),
        base.correlation.span(),
    ]
    .into_iter()
    .flatten()
    {
        ctx.error_at(
            k,
            "context bindings name arguments of one function; put them on the method, not the `impl` block",
        );
    }
    for item in &mut imp.items {
        let syn::ImplItem::Fn(m) = item else { continue };
        let mut own = None;
        m.attrs.retain(|a| {
            if OBSERVED.is(a) {
                own = Some(a.clone());
                false
            } else {
                true
            }
        });
        let margs = match &own {
            Some(a) => match &a.meta {
                syn::Meta::Path(_) => Args::empty(),
                syn::Meta::List(l) => Args::parse(ctx, l.tokens.clone()),
                syn::Meta::NameValue(nv) => {
                    ctx.error(
                        nv,
                        "`#[observed = ...]` is not a form of the attribute; write `#[observed]` or `#[observed(event = \"...\")]`",
                    );
                    Args::empty()
                }
            },
            None => Args::empty(),
        };
        if margs.skip_fn.is_set() {
            continue;
        }
        let ret = value_type(&m.sig, &mut m.block, margs.future.is_set());
        let is_result = ret.as_ref().is_some_and(is_result);
        let own_err = margs.err.is_set();
        let mut merged = args::merge(&base, margs, ctx);
        if !is_result && !own_err {
            // An impl-level `err` applies to the methods that return `Result`.
            merged.err.take();
        }
        let name = m.sig.ident.to_string();
        let default_event = match &prefix {
            Some(p) => format!("{p}.{name}"),
            None => name,
        };
        let mut plan = validate::plan(ctx, merged, &m.sig, ret.as_ref(), default_event);
        plan.ret_names = crate::common::sensitive_expr::returned(&m.sig, &m.block);
        if !ctx.has_errors() {
            apply(&plan, &m.sig, &mut m.block);
        }
    }
}
