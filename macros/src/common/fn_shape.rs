//! The shapes a function can take: sync, `async fn`, the output of `#[async_trait]`
//! (`fn f(..) -> Pin<Box<dyn Future<Output = T> + ..>> { Box::pin(async move { .. }) }`), or a
//! sync function that builds and returns a future ([`returned_future`]).

use syn::visit_mut::VisitMut;

#[allow(clippy::large_enum_variant)]
pub enum Shape<'a> {
    Sync,
    Async,
    /// `#[async_trait]` ran first: the async block to wrap, and the future's output type.
    AsyncTrait {
        block: &'a mut syn::ExprAsync,
        output: Option<syn::Type>,
    },
}

/// Classifies `sig`/`block`, giving mutable access to the async-trait inner block.
pub fn shape<'a>(sig: &syn::Signature, block: &'a mut syn::Block) -> Shape<'a> {
    if sig.asyncness.is_some() {
        return Shape::Async;
    }
    let output = future_output(&sig.output);
    if output.is_none() && !returns_pin_box(&sig.output) {
        return Shape::Sync;
    }
    let Some(syn::Stmt::Expr(expr, None)) = block.stmts.last_mut() else {
        return Shape::Sync;
    };
    let syn::Expr::Call(call) = expr else {
        return Shape::Sync;
    };
    let is_box_pin = match &*call.func {
        syn::Expr::Path(p) => {
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            segs.ends_with(&["Box".to_owned(), "pin".to_owned()])
        }
        _ => false,
    };
    if !is_box_pin || call.args.len() != 1 {
        return Shape::Sync;
    }
    match call.args.first_mut() {
        Some(syn::Expr::Async(block)) => Shape::AsyncTrait { block, output },
        _ => Shape::Sync,
    }
}

/// How a function that is neither `async fn` nor async-trait shaped returns a future.
pub struct ReturnedFuture {
    /// `Output = T` when the return type spells it; otherwise the last type argument of an
    /// alias (`BoxFuture<'a, T>`), or `_` when there is none.
    pub output: syn::Type,
    /// How the instrumented future is turned back into the declared type.
    pub wrap: Wrap,
}

pub enum Wrap {
    /// `impl Future<..>`: the instrumented future itself (no allocation).
    None,
    /// `impl Future<..> + Unpin`: the instrumented future, boxed and pinned.
    Pin,
    /// A boxed `dyn Future`, literal or behind an alias: boxed into the declared type.
    Dyn,
}

/// Whether a function of shape [`Shape::Sync`] returns a future whose work happens when it is
/// polled: `impl Future<Output = T>`, a literal `Pin<Box<dyn Future<Output = T> + ..>>`, or,
/// with `opt_in` (`#[observed(future)]`), any type (a type alias the macro cannot see through).
pub fn returned_future(ret: &syn::ReturnType, opt_in: bool) -> Option<ReturnedFuture> {
    let syn::ReturnType::Type(_, ty) = ret else {
        return None;
    };
    let output = || future_output(ret).unwrap_or_else(|| alias_output(ty));
    match strip(ty) {
        syn::Type::ImplTrait(i) if bounds_future(&i.bounds) => {
            let unpin = i.bounds.iter().any(|b| bound_named(b, "Unpin"));
            Some(ReturnedFuture {
                output: output(),
                wrap: if unpin { Wrap::Pin } else { Wrap::None },
            })
        }
        t if opt_in || is_pin_box_dyn_future(t) => Some(ReturnedFuture {
            output: output(),
            wrap: Wrap::Dyn,
        }),
        _ => None,
    }
}

fn strip(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Paren(p) => strip(&p.elem),
        syn::Type::Group(g) => strip(&g.elem),
        t => t,
    }
}

fn bound_named(b: &syn::TypeParamBound, name: &str) -> bool {
    matches!(b, syn::TypeParamBound::Trait(t) if t.path.segments.last().is_some_and(|s| s.ident == name))
}

fn bounds_future(
    bounds: &syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>,
) -> bool {
    bounds.iter().any(|b| bound_named(b, "Future"))
}

/// The single type argument of the last segment of `ty` when it is `Name<..>`.
fn last_type_args(ty: &syn::Type, name: &str) -> Option<syn::Type> {
    let syn::Type::Path(p) = strip(ty) else {
        return None;
    };
    let seg = p.path.segments.last().filter(|s| s.ident == name)?;
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

/// `Pin<Box<dyn Future<..> + ..>>`, spelled out.
fn is_pin_box_dyn_future(ty: &syn::Type) -> bool {
    let Some(boxed) = last_type_args(ty, "Pin") else {
        return false;
    };
    let Some(obj) = last_type_args(&boxed, "Box") else {
        return false;
    };
    matches!(strip(&obj), syn::Type::TraitObject(o) if bounds_future(&o.bounds))
}

/// The output of a future behind an alias: its last type argument (`BoxFuture<'a, T>` -> `T`),
/// or `_` (unknown).
fn alias_output(ty: &syn::Type) -> syn::Type {
    if let syn::Type::Path(p) = strip(ty)
        && let Some(seg) = p.path.segments.last()
        && let syn::PathArguments::AngleBracketed(args) = &seg.arguments
        && let Some(t) = args.args.iter().rev().find_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        })
    {
        return t;
    }
    syn::parse_quote!(_)
}

fn returns_pin_box(ret: &syn::ReturnType) -> bool {
    match ret {
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Pin"),
            _ => false,
        },
        _ => false,
    }
}

/// `Output = T` inside a `dyn Future<Output = T>` return type.
fn future_output(ret: &syn::ReturnType) -> Option<syn::Type> {
    let syn::ReturnType::Type(_, ty) = ret else {
        return None;
    };
    struct Find(Option<syn::Type>);
    impl VisitMut for Find {
        fn visit_assoc_type_mut(&mut self, a: &mut syn::AssocType) {
            if a.ident == "Output" && self.0.is_none() {
                self.0 = Some(a.ty.clone());
            }
        }
    }
    let mut ty = (**ty).clone();
    let mut f = Find(None);
    f.visit_type_mut(&mut ty);
    f.0
}

/// The return type with every `impl Trait` replaced by `_`, usable as a `let` annotation.
pub fn annotation(ty: &syn::Type) -> syn::Type {
    struct Infer;
    impl VisitMut for Infer {
        fn visit_type_mut(&mut self, t: &mut syn::Type) {
            if let syn::Type::ImplTrait(_) = t {
                *t = syn::parse_quote!(_);
            } else {
                syn::visit_mut::visit_type_mut(self, t);
            }
        }
    }
    let mut ty = ty.clone();
    Infer.visit_type_mut(&mut ty);
    ty
}

/// Does `ty` name a `Result` (`Result<..>`, `io::Result<..>`, `anyhow::Result<..>`)?
pub fn is_result(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        syn::Type::Paren(p) => is_result(&p.elem),
        syn::Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Return types: the one helper every attribute uses.

/// The declared return type, `()` when there is none.
pub fn declared(sig: &syn::Signature) -> syn::Type {
    match &sig.output {
        syn::ReturnType::Default => syn::parse_quote!(()),
        syn::ReturnType::Type(_, t) => (**t).clone(),
    }
}

/// The value type a call produces (`None` for `()`), looking through `#[async_trait]` and
/// returned futures (`future`: the attribute's opt-in for a future behind a type alias).
pub fn value_type(sig: &syn::Signature, block: &mut syn::Block, future: bool) -> Option<syn::Type> {
    let declared = match &sig.output {
        syn::ReturnType::Default => None,
        syn::ReturnType::Type(_, t) => Some((**t).clone()),
    };
    let value = match shape(sig, block) {
        Shape::AsyncTrait { output, .. } => output,
        Shape::Sync => match returned_future(&sig.output, future) {
            Some(f) => Some(f.output),
            None => declared,
        },
        Shape::Async => declared,
    };
    value.filter(|t| !is_unit(t))
}

fn is_unit(t: &syn::Type) -> bool {
    matches!(t, syn::Type::Tuple(tt) if tt.elems.is_empty())
}

/// Where an error about a return type points: the name of a path type (`BoxFuture` in
/// `futures::future::BoxFuture<'a, T>`), else the type's first token.
pub fn type_name_span(ty: &syn::Type) -> proc_macro2::Span {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| syn::spanned::Spanned::span(ty), |s| s.ident.span()),
        _ => syn::spanned::Spanned::span(ty),
    }
}

/// A path type whose name ends in `Future` with type arguments (`BoxFuture<'a, T>`,
/// `LocalBoxFuture<'a, T>`): most likely a boxed future behind an alias.
pub fn names_a_future(ret: &syn::ReturnType) -> bool {
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
pub fn from_async_trait(ret: &syn::ReturnType) -> bool {
    fn has(ts: proc_macro2::TokenStream) -> bool {
        ts.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "async_trait",
            proc_macro2::TokenTree::Group(g) => has(g.stream()),
            _ => false,
        })
    }
    has(quote::ToTokens::to_token_stream(ret))
}
