//! Tokens only: the instrumented body.

use super::args::ErrClass;
use super::validate::Plan;
use crate::common::fn_shape::{self, Shape};
use crate::common::sensitive_expr;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

/// The names of the arguments declared `&str` (`&'a str`): bound as they are, without the probe.
fn str_args(sig: &syn::Signature) -> Vec<&syn::Ident> {
    sig.inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(t) => Some(t),
            syn::FnArg::Receiver(_) => None,
        })
        .filter(|t| match &*t.ty {
            syn::Type::Reference(r) => {
                r.mutability.is_none()
                    && matches!(&*r.elem, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("str"))
            }
            _ => false,
        })
        .filter_map(|t| match &*t.pat {
            syn::Pat::Ident(i) if i.subpat.is_none() && i.by_ref.is_none() => Some(&i.ident),
            _ => None,
        })
        .collect()
}

/// The `__site!` invocation and the `Call::start` arguments.
fn site_and_start(plan: &Plan, sig: &syn::Signature) -> (TokenStream, TokenStream, TokenStream) {
    let Plan {
        event,
        name,
        target,
        level,
        ..
    } = plan;
    let target = match target {
        Some(t) => quote!(#t),
        None => quote!(::core::module_path!()),
    };
    let field_names: Vec<&String> = plan.fields.iter().map(|(n, _)| n).collect();
    let mut opts = TokenStream::new();
    if let Some(m) = &plan.metric {
        opts.extend(quote!(metric: #m,));
    }
    if !plan.metrics {
        opts.extend(quote!(metrics: false,));
    }
    if let Some(b) = &plan.buckets {
        let b = b.iter().map(|v| proc_macro2::Literal::f64_suffixed(*v));
        opts.extend(quote!(buckets: &[#(#b),*],));
    }
    if let Some(s) = plan.sample {
        let s = proc_macro2::Literal::f64_suffixed(s);
        opts.extend(quote!(sample: #s,));
    }
    if plan.started {
        opts.extend(quote!(started: true,));
    }
    if let Some(o) = &plan.slo {
        let opt_f64 = |v: Option<f64>| match v {
            Some(v) => {
                let v = proc_macro2::Literal::f64_suffixed(v);
                quote!(::core::option::Option::Some(#v))
            }
            None => quote!(::core::option::Option::None),
        };
        let success = opt_f64(o.success);
        let latency = match o.latency_ms {
            Some(v) => {
                let v = proc_macro2::Literal::u64_suffixed(v);
                quote!(::core::option::Option::Some(#v))
            }
            None => quote!(::core::option::Option::None),
        };
        let percentile = proc_macro2::Literal::f64_suffixed(o.percentile);
        let window = proc_macro2::Literal::u64_suffixed(o.window_secs);
        opts.extend(
            quote!(slo: ::core::option::Option::Some(::observa::__private::Objective {
            success: #success,
            latency_ms: #latency,
            percentile: #percentile,
            window_secs: #window,
        }),),
        );
    }
    if !plan.field_types.is_empty() {
        let t = &plan.field_types;
        opts.extend(quote!(field_types: &[#(#t),*],));
    }
    if let Some(ms) = plan.slow_ms {
        let ms = proc_macro2::Literal::u64_suffixed(ms);
        opts.extend(quote!(slow_ms: #ms,));
    }
    let sh = &plan.shape;
    if !sh.labels.is_empty() {
        let (k, v): (Vec<&String>, Vec<&String>) = sh.labels.iter().map(|(k, v)| (k, v)).unzip();
        opts.extend(quote!(labels: &[#((#k, #v)),*],));
    }
    if let Some(l) = &sh.outcome_label {
        opts.extend(quote!(outcome_label: #l,));
    }
    if let Some(o) = &sh.outcomes {
        opts.extend(quote!(outcomes: [#(#o),*],));
    }
    if let Some(d) = &sh.duration_metric {
        opts.extend(quote!(duration_metric: #d,));
    }
    if let Some(c) = plan.err_class {
        let c = match c {
            ErrClass::Client => quote!(Client),
            ErrClass::Server => quote!(Server),
        };
        opts.extend(
            quote!(class: ::core::option::Option::Some(::observa::__private::ErrorClass::#c),),
        );
    }
    let site = quote! {
        ::observa::__site! {
            name: #name,
            event: #event,
            target: #target,
            level: #level,
            fields: [#(#field_names),*],
            opts: { #opts }
        }
    };
    let strs = str_args(sig);
    let bind_one = |e: &Option<syn::Expr>| match e {
        // An argument declared `&str` is bound as it is, with no probe (the common case, and
        // the probe's method resolution is a good part of what the attribute costs `rustc`).
        Some(syn::Expr::Path(p))
            if p.qself.is_none()
                && p.attrs.is_empty()
                && p.path.get_ident().is_some_and(|i| strs.contains(&i)) =>
        {
            quote!(::core::option::Option::Some(::observa::__private::BindValue::Str(#p)))
        }
        // Strings are bound as they are, anything else `Display` is formatted (autoref probe).
        // The value is borrowed in the scrutinee: it lives to the end of the `start` statement.
        Some(e) => quote!(::core::option::Option::Some(match &(#e) {
            __observa_v => {
                #[allow(unused_imports)]
                use ::observa::__private::{BindViaDisplay as _, BindViaStr as _};
                (&::observa::__private::BindProbe(__observa_v)).__observa_bind()
            }
        })),
        None => quote!(::core::option::Option::None),
    };
    let bind = if plan.tenant.is_none()
        && plan.user.is_none()
        && plan.correlation.is_none()
        && plan.bind.is_empty()
    {
        quote!(::observa::__private::CallBinding::NONE)
    } else {
        let (t, u, c) = (
            bind_one(&plan.tenant),
            bind_one(&plan.user),
            bind_one(&plan.correlation),
        );
        let fields = plan.bind.iter().map(|(n, e, sensitive)| {
            let span = syn::spanned::Spanned::span(e);
            quote_spanned! {span=>
                (#n, ::observa::__private::bound_value::<{ #sensitive }, _>(&(#e)))
            }
        });
        quote!(::observa::__private::CallBinding {
            tenant: #t,
            user: #u,
            correlation: #c,
            fields: &[#(#fields),*],
        })
    };
    let values = plan.fields.iter().map(|(n, e)| {
        let span = syn::spanned::Spanned::span(e);
        // The recorded name and every identifier of the expression are judged.
        let sensitive = sensitive_expr::recorded(Some(n), e);
        quote_spanned! {span=>
            ::observa::__private::field::<{ #sensitive }, _>(&(#e))
        }
    });
    (site, bind, quote!(&[#(#values),*]))
}

/// `Finish` of `__observa_ret`.
fn finish(plan: &Plan) -> TokenStream {
    let mut f = quote! {{
        #[allow(unused_imports)]
        use ::observa::__private::{
            ViaAny as _, ViaClassifyDisplay as _, ViaClassifyError as _, ViaDebug as _,
            ViaDisplay as _, ViaError as _, ViaResult as _,
        };
        (&&&&&&&::observa::__private::Probe(&__observa_ret)).__observa_finish()
    }};
    if plan.err_debug {
        f = quote!(::observa::__private::debug_error(&__observa_ret, #f));
    }
    f
}

/// The new body of a sync function.
fn sync_body(
    plan: &Plan,
    sig: &syn::Signature,
    block: &syn::Block,
    ret: &syn::Type,
) -> TokenStream {
    let (site, bind, values) = site_and_start(plan, sig);
    let finish = finish(plan);
    let ann = fn_shape::annotation(ret);
    let ret_field = ret_field(plan, ret);
    let mutability = if plan.ret { quote!(mut) } else { quote!() };
    // A boxed future behind a type alias would be timed as its creation: refused, spanned on
    // the return type (compile time only; nothing runs).
    let check = if crate::common::item_fn::is_raw(block) {
        TokenStream::new()
    } else {
        quote_spanned! {fn_shape::type_name_span(ret)=>
            ::observa::__private::not_a_boxed_future(
                (&::observa::__private::SyncCheck(&__observa_ret)).__observa_sync(),
            );
        }
    };
    quote! {{
        let __observa_site = #site;
        let #mutability __observa_call = ::observa::__private::Call::start(__observa_site, #bind, #values);
        #[allow(clippy::redundant_closure_call)]
        let __observa_ret: #ann = (move || #block)();
        #[allow(unused_imports)]
        use ::observa::__private::SyncVia as _;
        #check
        #ret_field
        __observa_call.finish(#finish);
        __observa_ret
    }}
}

/// The new body of a sync function that returns a future: the call starts when the function
/// is called (its fields are read while the arguments are still there), the function's own
/// code runs inside it, and the returned future is wrapped so the call ends when it completes.
fn future_body(
    plan: &Plan,
    sig: &syn::Signature,
    block: &syn::Block,
    ret: &syn::Type,
    fut: &fn_shape::ReturnedFuture,
) -> TokenStream {
    let (site, bind, values) = site_and_start(plan, sig);
    let finish = finish(plan);
    let ann = fn_shape::annotation(ret);
    let out = fn_shape::annotation(&fut.output);
    let ret_field = ret_field(plan, &fut.output);
    let inner = quote! {
        async move {
            let __observa_ret: #out = ::observa::__private::Instrumented {
                call: &mut __observa_call,
                fut: ::core::pin::pin!(__observa_fut),
            }
            .await;
            #ret_field
            __observa_call.finish(#finish);
            __observa_ret
        }
    };
    let wrapped = match fut.wrap {
        fn_shape::Wrap::None => inner,
        fn_shape::Wrap::Pin => quote!(::observa::__private::pinned(#inner)),
        fn_shape::Wrap::Dyn => {
            quote_spanned!(fn_shape::type_name_span(ret)=> ::observa::__private::box_future(#inner))
        }
    };
    quote! {{
        let __observa_site = #site;
        let mut __observa_call = ::observa::__private::AsyncCall::idle(__observa_site);
        __observa_call.begin(#bind, #values);
        #[allow(clippy::redundant_closure_call)]
        let __observa_fut = __observa_call.run(move || -> #ann #block);
        #wrapped
    }}
}

/// The body of an async call around `inner` (an async block or `async move { body }`).
fn async_body(
    plan: &Plan,
    sig: &syn::Signature,
    inner: TokenStream,
    ret: &syn::Type,
) -> TokenStream {
    let (site, bind, values) = site_and_start(plan, sig);
    let finish = finish(plan);
    let ann = fn_shape::annotation(ret);
    let ret_field = ret_field(plan, ret);
    quote! {{
        let __observa_site = #site;
        // Built idle in the future's state, then started in place (no copy of the call).
        let mut __observa_call = ::observa::__private::AsyncCall::idle(__observa_site);
        __observa_call.begin(#bind, #values);
        let __observa_ret: #ann = ::observa::__private::Instrumented {
            call: &mut __observa_call,
            fut: ::core::pin::pin!(#inner),
        }
        .await;
        #ret_field
        __observa_call.finish(#finish);
        __observa_ret
    }}
}

fn ret_field(plan: &Plan, ret: &syn::Type) -> TokenStream {
    if !plan.ret {
        return TokenStream::new();
    }
    let span = syn::spanned::Spanned::span(ret);
    // Masked when the fn's name or an identifier of what it returns is sensitive.
    let sensitive = sensitive_expr::any_sensitive(None, &plan.ret_names);
    let value = if fn_shape::is_result(ret) {
        quote_spanned!(span=> ::observa::__private::ret_ok(&__observa_ret))
    } else {
        quote_spanned!(span=> ::observa::__private::ret_plain(&__observa_ret))
    };
    quote_spanned!(span=> __observa_call.ret(::observa::__private::redact::ret::<{ #sensitive }>(#value));)
}

/// Rewrites a function's body according to its shape.
pub fn instrument(plan: &Plan, sig: &syn::Signature, block: &mut syn::Block) {
    let ret = fn_shape::declared(sig);
    let new = match fn_shape::shape(sig, block) {
        Shape::Sync => match fn_shape::returned_future(&sig.output, plan.future) {
            Some(fut) => future_body(plan, sig, block, &ret, &fut),
            None => sync_body(plan, sig, block, &ret),
        },
        Shape::Async => {
            let inner = quote!(async move #block);
            async_body(plan, sig, inner, &ret)
        }
        Shape::AsyncTrait {
            block: inner,
            output,
        } => {
            let out = output.unwrap_or_else(|| syn::parse_quote!(_));
            let capture = inner.capture;
            let inner_tokens = quote!(#inner);
            let body = async_body(plan, sig, inner_tokens, &out);
            *inner = syn::parse_quote!(async #capture #body);
            return;
        }
    };
    *block = crate::common::item_fn::block(new);
}
