//! The one error context of every macro (serde_derive's `Ctxt`): errors are collected so the
//! user sees every mistake at once, each on its own token, and the context must be checked
//! before it is dropped, so no error can be collected and then silently lost.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::cell::RefCell;
use std::fmt::Display;

pub struct Ctxt {
    /// `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Ctxt {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// An error spanned on `tokens`.
    pub fn error(&self, tokens: impl ToTokens, msg: impl Display) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), msg));
    }

    /// An error at `span`.
    pub fn error_at(&self, span: Span, msg: impl Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub fn push(&self, e: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check")
            .push(e);
    }

    pub fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|e| !e.is_empty())
    }

    /// Consumes the context: every error combined into one, or `Ok`.
    pub fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut errs = errors.into_iter();
        let Some(mut first) = errs.next() else {
            return Ok(());
        };
        for e in errs {
            first.combine(e);
        }
        Err(first)
    }

    /// Consumes the context: `out` followed by every error (the item stays usable by the IDE).
    pub fn finish(self, out: TokenStream) -> TokenStream {
        match self.check() {
            Ok(()) => out,
            Err(e) => super::with_errors(out, e),
        }
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("observa-macros: an error context was dropped without being checked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_every_error() {
        let c = Ctxt::new();
        c.error_at(Span::call_site(), "one");
        c.error_at(Span::call_site(), "two");
        assert!(c.has_errors());
        let e = c.check().unwrap_err();
        assert_eq!(e.into_iter().count(), 2);
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "without being checked")]
    fn must_be_checked() {
        let _c = Ctxt::new();
    }
}
