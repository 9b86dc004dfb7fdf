//! Shared by every macro: the error context, set-once arguments, attribute paths, keywords,
//! fn shapes and return types, and the fn whose body does not parse.

pub mod attr_path;
mod ctxt;
pub mod fn_shape;
pub mod item_fn;
pub mod kw;
pub mod sensitive_expr;

use proc_macro2::{Span, TokenStream};

pub use ctxt::Ctxt;

/// An argument that may be given once. The second occurrence is the one error reported.
pub struct Once<T> {
    name: &'static str,
    value: Option<(Span, T)>,
}

impl<T> Once<T> {
    pub const fn new(name: &'static str) -> Once<T> {
        Once { name, value: None }
    }

    pub fn set(&mut self, ctx: &Ctxt, span: Span, v: T) {
        if self.value.is_some() {
            ctx.error_at(
                span,
                format!("duplicate `{}` argument; give it once", self.name),
            );
        } else {
            self.value = Some((span, v));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }

    pub fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(s, _)| *s)
    }

    pub fn take(&mut self) -> Option<T> {
        self.value.take().map(|(_, v)| v)
    }

    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

/// The item unchanged plus the errors: the IDE keeps working on the function.
pub fn with_errors(item: TokenStream, err: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(err.to_compile_error());
    out
}

/// Instrumentation off (`observa` without `enabled`): the item keeps its body, plus one
/// statement naming every expression the attribute would record, inside a closure that is
/// never called. Nothing runs; an argument read only by the attribute (`correlation =
/// request_id`) is not reported unused, and the expressions type-check in both builds.
pub fn mention_when_disabled<'a>(
    block: &mut syn::Block,
    exprs: impl IntoIterator<Item = &'a syn::Expr>,
) {
    let exprs: Vec<&syn::Expr> = exprs.into_iter().collect();
    if exprs.is_empty() {
        return;
    }
    let stmt: syn::Stmt = syn::parse_quote! {
        let _ = || {
            #( let _ = &(#exprs); )*
        };
    };
    block.stmts.insert(0, stmt);
}
