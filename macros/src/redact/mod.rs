//! `#[derive(Redact)]`: parse -> validate -> expand.
//!
//! - `attr.rs`: the `#[redact(...)]` attribute, parsed into keywords with their spans;
//! - `ast.rs`: the typed model of the input (container, variants, fields with their policy);
//! - `valid.rs`: which keyword may go where, duplicates and conflicts;
//! - `expand.rs`: tokens only.
//!
//! On bad input the derive emits the errors plus fully masking fallback impls, so the user sees
//! the real mistake and not a cascade of "`X` doesn't implement `Debug`".

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro2::TokenStream;

pub fn derive(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let ctx = crate::common::Ctxt::new();
    let model = ast::Input::from_syn(&ctx, &input);
    match (ctx.check().err(), model) {
        (None, Some(model)) => expand::expand(&model),
        (err, _) => {
            let err = err.map(|e| e.to_compile_error());
            let fallback = expand::fallback(&input);
            quote::quote! { #err #fallback }
        }
    }
}
