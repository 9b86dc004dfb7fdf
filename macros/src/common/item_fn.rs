//! A function whose body does not parse (half-typed code: `let y = x +;`).
//!
//! tracing-attributes' fallback: the signature is parsed and the body is kept as raw tokens
//! (one `Expr::Verbatim` statement). The attribute expands around it as usual and adds no
//! error of its own, so the user and the IDE see rustc's one syntax error, not a second copy
//! from the macro; a body that rustc accepts and syn does not is still instrumented.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};

/// `attrs vis sig { raw tokens }`.
struct RawFn(syn::ItemFn);

impl Parse for RawFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<RawFn> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis: syn::Visibility = input.parse()?;
        let sig: syn::Signature = input.parse()?;
        let body;
        let brace_token = syn::braced!(body in input);
        let raw: TokenStream = body.parse()?;
        Ok(RawFn(syn::ItemFn {
            attrs,
            vis,
            modifiers: syn::FnModifiers::default(),
            sig,
            block: Box::new(syn::Block {
                brace_token,
                stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(raw), None)],
            }),
        }))
    }
}

/// A function item, its body parsed or kept as raw tokens.
pub enum MaybeItemFn {
    Fn(Box<syn::ItemFn>),
    /// The signature parses but the body does not: rustc reports that.
    Raw(Box<syn::ItemFn>),
}

impl MaybeItemFn {
    /// `Err` when the tokens are not a function at all (not even its signature and a block).
    pub fn parse(item: TokenStream) -> syn::Result<MaybeItemFn> {
        match syn::parse2::<syn::ItemFn>(item.clone()) {
            Ok(f) => Ok(MaybeItemFn::Fn(Box::new(f))),
            Err(e) => match syn::parse2::<RawFn>(item) {
                Ok(RawFn(f)) => Ok(MaybeItemFn::Raw(Box::new(f))),
                Err(_) => Err(e),
            },
        }
    }

    pub fn into_inner(self) -> syn::ItemFn {
        match self {
            MaybeItemFn::Fn(f) | MaybeItemFn::Raw(f) => *f,
        }
    }
}

/// An `impl` block one of whose methods has a body that does not parse: the header and every
/// other item parsed, each such method with its body kept as raw tokens. `None` when the
/// tokens are not that.
pub fn parse_impl(item: TokenStream) -> Option<syn::ItemImpl> {
    use syn::parse::discouraged::Speculative;
    let tts: Vec<TokenTree> = item.into_iter().collect();
    let (TokenTree::Group(body), head) = tts.split_last()? else {
        return None;
    };
    if body.delimiter() != Delimiter::Brace {
        return None;
    }
    let empty = proc_macro2::Group::new(Delimiter::Brace, TokenStream::new());
    let header: TokenStream = head
        .iter()
        .cloned()
        .chain([TokenTree::Group(empty)])
        .collect();
    let mut imp: syn::ItemImpl = syn::parse2(header).ok()?;
    imp.brace_token = syn::token::Brace(body.delim_span());
    let items = |input: ParseStream<'_>| -> syn::Result<Vec<syn::ImplItem>> {
        let mut items = Vec::new();
        while !input.is_empty() {
            let fork = input.fork();
            if let Ok(i) = fork.parse::<syn::ImplItem>() {
                input.advance_to(&fork);
                items.push(i);
                continue;
            }
            let RawFn(f) = input.parse()?;
            items.push(syn::ImplItem::Fn(syn::ImplItemFn {
                attrs: f.attrs,
                vis: f.vis,
                modifiers: syn::FnModifiers::default(),
                sig: f.sig,
                block: *f.block,
            }));
        }
        Ok(items)
    };
    imp.items = syn::parse::Parser::parse2(items, body.stream()).ok()?;
    Some(imp)
}

/// A body kept as raw tokens by [`MaybeItemFn::parse`]. Its value has no type when rustc
/// recovers from the syntax error, so the compile-time checks on the returned type are left
/// out (they would add a second, misleading error).
pub fn is_raw(block: &syn::Block) -> bool {
    block
        .stmts
        .iter()
        .any(|s| matches!(s, syn::Stmt::Expr(syn::Expr::Verbatim(_), _)))
}

/// A generated body, kept as tokens: never re-parsed, so a body kept raw reaches rustc as
/// written. `tokens` is one `{ .. }` group.
pub fn block(tokens: TokenStream) -> syn::Block {
    let mut it = tokens.clone().into_iter();
    let inner = match (it.next(), it.next()) {
        (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::Brace => g.stream(),
        _ => tokens,
    };
    syn::Block {
        brace_token: syn::token::Brace::default(),
        stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(inner), None)],
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
        match MaybeItemFn::parse(t) {
            Ok(MaybeItemFn::Raw(f)) => {
                assert_eq!(f.sig.ident, "f");
                let body = quote::ToTokens::to_token_stream(&f.block).to_string();
                assert_eq!(body, "{ let y = x +; y }");
            }
            _ => panic!("expected the raw fallback"),
        }
        let t: TokenStream = "fn f() -> u8 { 1 }".parse().unwrap();
        assert!(matches!(MaybeItemFn::parse(t), Ok(MaybeItemFn::Fn(_))));
        let t: TokenStream = "struct S;".parse().unwrap();
        assert!(MaybeItemFn::parse(t).is_err());
    }

    #[test]
    fn impl_with_a_half_typed_method() {
        let t: TokenStream =
            "impl<T> S<T> { const N: u8 = 1; fn a(&self) -> u8 { 1 } fn b(&self) -> u8 { let y = 1 +; y } }"
                .parse()
                .unwrap();
        let imp = parse_impl(t).expect("the impl");
        assert_eq!(imp.items.len(), 3);
        let syn::ImplItem::Fn(b) = &imp.items[2] else {
            panic!("a method")
        };
        assert!(is_raw(&b.block));
        assert!(parse_impl("struct S { a: }".parse().unwrap()).is_none());
    }
}
