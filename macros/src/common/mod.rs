//! Shared by every macro: error collection, set-once arguments, fn shapes.

pub mod fn_shape;
pub mod sensitive_expr;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::cell::RefCell;

/// Collects every error so the user sees all mistakes at once (serde_derive's `Ctxt`).
#[derive(Default)]
pub struct Ctx {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctx {
    pub fn error(&self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new_spanned(tokens.into_token_stream(), msg));
    }

    pub fn error_at(&self, span: Span, msg: impl std::fmt::Display) {
        self.errors.borrow_mut().push(syn::Error::new(span, msg));
    }

    pub fn push(&self, e: syn::Error) {
        self.errors.borrow_mut().push(e);
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// All errors combined, or `None`.
    pub fn take(&self) -> Option<syn::Error> {
        let mut errs = self
            .errors
            .borrow_mut()
            .drain(..)
            .collect::<Vec<_>>()
            .into_iter();
        let mut first = errs.next()?;
        for e in errs {
            first.combine(e);
        }
        Some(first)
    }
}

/// An argument that may be given once. The second occurrence is the one error reported.
pub struct Once<T> {
    name: &'static str,
    value: Option<(Span, T)>,
}

impl<T> Once<T> {
    pub const fn new(name: &'static str) -> Once<T> {
        Once { name, value: None }
    }

    pub fn set(&mut self, ctx: &Ctx, span: Span, v: T) {
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
