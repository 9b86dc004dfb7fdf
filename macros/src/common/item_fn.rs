//! A function whose body does not parse (half-typed code: `let y = x +;`).
//!
//! tracing-attributes' fallback: the signature is parsed, the body is kept as raw tokens. The
//! attribute then gives the item back untouched and reports only its own arguments' errors, so
//! the user and the IDE see rustc's one syntax error, not a second copy from the macro.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};

/// `attrs vis sig { raw tokens }`: a parsed signature and a body kept as tokens.
struct RawFn;

impl Parse for RawFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<RawFn> {
        input.call(syn::Attribute::parse_outer)?;
        input.parse::<syn::Visibility>()?;
        input.parse::<syn::Signature>()?;
        let body;
        syn::braced!(body in input);
        body.parse::<TokenStream>()?;
        Ok(RawFn)
    }
}

/// A function item: parsed, or, when only its body fails to parse, its signature.
pub enum MaybeItemFn {
    Fn(Box<syn::ItemFn>),
    /// The signature parses but the body does not; rustc reports that, the attribute leaves
    /// the item alone.
    Raw,
}

impl MaybeItemFn {
    /// `Err` when the tokens are not a function at all (not even its signature and a block).
    pub fn parse(item: TokenStream) -> syn::Result<MaybeItemFn> {
        match syn::parse2::<syn::ItemFn>(item.clone()) {
            Ok(f) => Ok(MaybeItemFn::Fn(Box::new(f))),
            Err(e) => match syn::parse2::<RawFn>(item) {
                Ok(RawFn) => Ok(MaybeItemFn::Raw),
                Err(_) => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_typed_body_keeps_its_signature() {
        let t: TokenStream = "pub async fn f(x: u8) -> u8 { let y = x +; y }"
            .parse()
            .unwrap();
        assert!(matches!(MaybeItemFn::parse(t), Ok(MaybeItemFn::Raw)));
        let t: TokenStream = "fn f() -> u8 { 1 }".parse().unwrap();
        assert!(matches!(MaybeItemFn::parse(t), Ok(MaybeItemFn::Fn(_))));
        let t: TokenStream = "struct S;".parse().unwrap();
        assert!(MaybeItemFn::parse(t).is_err());
    }
}
