//! Parsing `#[audit(...)]` arguments into [`Args`].

use crate::common::kw::{self, audit as k};
use crate::common::{Ctxt, Once};
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;

/// The parsed attribute.
pub struct Args {
    pub action: Once<syn::LitStr>,
    pub actor: Once<syn::Expr>,
    pub target: Once<syn::Expr>,
    pub severity: Once<syn::LitStr>,
    pub reason: Once<syn::Expr>,
    pub category: Once<syn::LitStr>,
    /// `changes = (before, after)`.
    pub changes: Once<(syn::Expr, syn::Expr)>,
    pub policy: Once<syn::LitStr>,
    /// `future`: the function returns a boxed future behind a type alias.
    pub future: Once<()>,
}

impl Args {
    /// Parses the attribute's tokens; errors go to `ctx`.
    pub fn parse(ctx: &Ctxt, tokens: TokenStream) -> Args {
        let mut a = Args {
            action: Once::new(k::ACTION),
            actor: Once::new(k::ACTOR),
            target: Once::new(k::TARGET),
            severity: Once::new(k::SEVERITY),
            reason: Once::new(k::REASON),
            category: Once::new(k::CATEGORY),
            changes: Once::new(k::CHANGES),
            policy: Once::new(k::POLICY),
            future: Once::new(k::FUTURE),
        };
        let parser = syn::meta::parser(|meta| {
            let span = meta
                .path
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span());
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match key.as_str() {
                k::ACTION => a.action.set(ctx, span, meta.value()?.parse()?),
                k::ACTOR => a.actor.set(ctx, span, meta.value()?.parse()?),
                k::TARGET => a.target.set(ctx, span, meta.value()?.parse()?),
                k::SEVERITY => a.severity.set(ctx, span, meta.value()?.parse()?),
                k::REASON => a.reason.set(ctx, span, meta.value()?.parse()?),
                k::CATEGORY => a.category.set(ctx, span, meta.value()?.parse()?),
                k::POLICY => a.policy.set(ctx, span, meta.value()?.parse()?),
                k::FUTURE => a.future.set(ctx, span, ()),
                k::CHANGES => {
                    let t: syn::ExprTuple = meta.value()?.parse()?;
                    if t.elems.len() != 2 {
                        return Err(syn::Error::new_spanned(
                            t,
                            "`changes` takes `(before, after)`: two values recorded through `observa::Record`",
                        ));
                    }
                    let mut it = t.elems.into_iter();
                    if let (Some(b), Some(af)) = (it.next(), it.next()) {
                        a.changes.set(ctx, span, (b, af));
                    }
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown `audit` argument `{key}`; expected one of {}",
                        kw::list(k::ALL)
                    )));
                }
            }
            Ok(())
        });
        if let Err(e) = parser.parse2(tokens) {
            ctx.push(e);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the message lists is accepted by the parser (the list cannot drift).
    #[test]
    fn every_listed_key_is_known() {
        for key in k::ALL {
            let ctx = Ctxt::new();
            let _ = Args::parse(&ctx, key.parse().unwrap());
            if let Err(e) = ctx.check() {
                assert!(!e.to_string().contains("unknown"), "{key}: {e}");
            }
        }
    }
}
