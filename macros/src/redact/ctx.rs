//! Error collection: every mistake is reported, each once, on its own token.

use proc_macro2::Span;
use std::cell::RefCell;

#[derive(Default)]
pub struct Ctx {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctx {
    pub fn error(&self, span: Span, msg: impl std::fmt::Display) {
        self.errors.borrow_mut().push(syn::Error::new(span, msg));
    }

    pub fn push(&self, e: syn::Error) {
        self.errors.borrow_mut().push(e);
    }

    /// All errors combined, or `None`.
    pub fn take(&self) -> Option<syn::Error> {
        let mut errs = std::mem::take(&mut *self.errors.borrow_mut()).into_iter();
        let mut first = errs.next()?;
        for e in errs {
            first.combine(e);
        }
        Some(first)
    }
}
