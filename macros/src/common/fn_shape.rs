//! The shapes a function can take: sync, `async fn`, or the output of `#[async_trait]`
//! (`fn f(..) -> Pin<Box<dyn Future<Output = T> + ..>> { Box::pin(async move { .. }) }`).

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

/// The `T` of `Result<T, ..>`.
#[allow(dead_code)]
pub fn result_ok_type(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}
