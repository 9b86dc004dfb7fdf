//! Procedural macros of observa. Depend on `observa`, not on this crate: it re-exports them,
//! and the generated code reaches the runtime only through `::observa::__private`.

mod audit;
mod classify;
mod common;
mod observed;

use proc_macro::TokenStream;

/// See `observa::audit`.
#[proc_macro_attribute]
pub fn audit(args: TokenStream, item: TokenStream) -> TokenStream {
    audit::audit(args.into(), item.into()).into()
}

/// See `observa::Classify`.
#[proc_macro_derive(Classify, attributes(classify))]
pub fn derive_classify(input: TokenStream) -> TokenStream {
    classify::derive(input.into()).into()
}

/// See `observa::observed`.
#[proc_macro_attribute]
pub fn observed(args: TokenStream, item: TokenStream) -> TokenStream {
    observed::observed(args.into(), item.into()).into()
}

mod redact;

/// Redacted `Debug`, `observa::Record` and the redacted view (`observa::redacted`) for a struct
/// or an enum. Every policy (`#[redact]`, `email`, `last4`, `fingerprint`, `len`, `with = path`,
/// `public`, container `all`) is documented, with examples, in `observa::redact`.
#[proc_macro_derive(Redact, attributes(redact))]
pub fn derive_redact(input: TokenStream) -> TokenStream {
    redact::derive(input.into()).into()
}
