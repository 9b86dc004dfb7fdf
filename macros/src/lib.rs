//! Procedural macros of observa. Depend on `observa`, not on this crate.

use proc_macro::TokenStream;

/// See `observa::observed`.
#[proc_macro_attribute]
pub fn observed(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

mod redact;

/// See `observa::Redact`.
#[proc_macro_derive(Redact, attributes(redact))]
pub fn derive_redact(input: TokenStream) -> TokenStream {
    redact::derive(input.into()).into()
}
