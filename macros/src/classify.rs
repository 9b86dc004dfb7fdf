//! `#[derive(Classify)]`: client or server error per variant.
//!
//! ```text
//! #[derive(observa::Classify)]
//! #[classify(server)]            // default for unmarked variants (the default default)
//! enum ApiError {
//!     #[classify(client)] NotFound(u64),
//!     #[classify(client)] Invalid { field: &'static str },
//!     Database(std::io::Error),
//! }
//! ```
//! `error_type` is the variant name (`NotFound`), or the type name for structs. (A `text` block:
//! this crate cannot depend on `observa`; the same example is compiled and asserted on the
//! `observa::Classify` trait.)
//!
//! On bad input the derive emits the errors plus a fallback impl (every value `server`, the
//! type's name), so the user sees the real mistake and not a cascade of "`X` does not
//! implement `Classify`" wherever the type is used.

use crate::common::attr_path::CLASSIFY;
use crate::common::kw::{self, classify as k};
use crate::common::{Ctxt, Once};
use proc_macro2::{Span, TokenStream};
use quote::quote;

#[derive(Clone, Copy)]
enum Class {
    Client,
    Server,
}

fn class_of(ctx: &Ctxt, attrs: &[syn::Attribute]) -> Option<Class> {
    let mut class = Once::new(CLASSIFY);
    for a in attrs.iter().filter(|a| a.path().is_ident(CLASSIFY)) {
        let r = a.parse_nested_meta(|m| {
            let span = m
                .path
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span());
            let key = m.path.get_ident().map(ToString::to_string);
            match key.as_deref() {
                Some(k::CLIENT) => class.set(ctx, span, Class::Client),
                Some(k::SERVER) => class.set(ctx, span, Class::Server),
                _ => {
                    return Err(m.error(format!(
                        "unknown `classify` option; expected {}",
                        kw::or_list(k::ALL)
                    )));
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            ctx.push(e);
        }
    }
    class.take()
}

fn tokens(c: Class) -> TokenStream {
    match c {
        Class::Client => quote!(::observa::ErrorClass::Client),
        Class::Server => quote!(::observa::ErrorClass::Server),
    }
}

pub fn derive(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let ctx = Ctxt::new();
    let default = class_of(&ctx, &input.attrs).unwrap_or(Class::Server);
    let name = &input.ident;
    let (class_body, type_body) = match &input.data {
        syn::Data::Enum(e) => {
            let mut class_arms = Vec::new();
            let mut type_arms = Vec::new();
            for v in &e.variants {
                let c = tokens(class_of(&ctx, &v.attrs).unwrap_or(default));
                let vi = &v.ident;
                let vs = vi.to_string();
                class_arms.push(quote!(Self::#vi { .. } => #c,));
                type_arms.push(quote!(Self::#vi { .. } => #vs,));
            }
            if e.variants.is_empty() {
                (quote!(match *self {}), quote!(match *self {}))
            } else {
                (
                    quote!(match self { #(#class_arms)* }),
                    quote!(match self { #(#type_arms)* }),
                )
            }
        }
        syn::Data::Struct(_) => {
            let s = name.to_string();
            (tokens(default), quote!(#s))
        }
        syn::Data::Union(u) => {
            ctx.error(
                u.union_token,
                "`Classify` cannot be derived for a union; implement `observa::Classify` by hand",
            );
            (quote!(), quote!())
        }
    };
    match ctx.check() {
        Ok(()) => implementation(&input, class_body, type_body),
        Err(e) => {
            // The errors, and an impl that reads nothing from the value, so uses of the type
            // as an error do not add "`Classify` is not implemented" to the real mistake.
            let s = name.to_string();
            let fallback = implementation(&input, tokens(Class::Server), quote!(#s));
            let e = e.to_compile_error();
            quote!(#e #fallback)
        }
    }
}

fn implementation(input: &syn::DeriveInput, class: TokenStream, ty: TokenStream) -> TokenStream {
    let name = &input.ident;
    let (imp, generics, wh) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #imp ::observa::Classify for #name #generics #wh {
            fn error_class(&self) -> ::observa::ErrorClass {
                #class
            }
            fn error_type(&self) -> &'static str {
                #ty
            }
        }
    }
}
