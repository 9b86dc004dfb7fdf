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

use crate::common::{Ctx, Once};
use proc_macro2::{Span, TokenStream};
use quote::quote;

#[derive(Clone, Copy)]
enum Class {
    Client,
    Server,
}

fn class_of(ctx: &Ctx, attrs: &[syn::Attribute]) -> Option<Class> {
    let mut class = Once::new("classify");
    for a in attrs.iter().filter(|a| a.path().is_ident("classify")) {
        let r = a.parse_nested_meta(|m| {
            let span = m
                .path
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span());
            if m.path.is_ident("client") {
                class.set(ctx, span, Class::Client);
            } else if m.path.is_ident("server") {
                class.set(ctx, span, Class::Server);
            } else {
                return Err(m.error("unknown `classify` option; expected `client` or `server`"));
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
    let ctx = Ctx::default();
    let default = class_of(&ctx, &input.attrs).unwrap_or(Class::Server);
    let name = &input.ident;
    let (imp, ty, wh) = input.generics.split_for_impl();
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
    if let Some(e) = ctx.take() {
        return e.to_compile_error();
    }
    quote! {
        impl #imp ::observa::Classify for #name #ty #wh {
            fn error_class(&self) -> ::observa::ErrorClass {
                #class_body
            }
            fn error_type(&self) -> &'static str {
                #type_body
            }
        }
    }
}
