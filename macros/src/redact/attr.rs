//! The `#[redact(...)]` attribute: keywords and their spans, nothing decided yet.

use crate::common::Ctxt;
use proc_macro2::Span;
use syn::spanned::Spanned;

pub use crate::common::attr_path::REDACT;

/// Every keyword `#[redact(...)]` accepts somewhere.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kw {
    /// `#[redact]`: a full mask.
    Bare,
    Email,
    Last4,
    Fingerprint,
    Len,
    With,
    Public,
    All,
}

impl Kw {
    pub const fn name(self) -> &'static str {
        match self {
            Kw::Bare => "redact",
            Kw::Email => "email",
            Kw::Last4 => "last4",
            Kw::Fingerprint => "fingerprint",
            Kw::Len => "len",
            Kw::With => "with",
            Kw::Public => "public",
            Kw::All => "all",
        }
    }

    /// How the keyword is written, for messages.
    pub fn spelled(self) -> String {
        match self {
            Kw::Bare => "#[redact]".to_owned(),
            Kw::With => "#[redact(with = path)]".to_owned(),
            k => format!("#[redact({})]", k.name()),
        }
    }

    /// The keywords a field accepts, in the order messages list them.
    pub const FIELD: [Kw; 6] = [
        Kw::Email,
        Kw::Last4,
        Kw::Fingerprint,
        Kw::Len,
        Kw::With,
        Kw::Public,
    ];

    /// A keyword written inside `#[redact(...)]` (match arms and messages share [`Kw::name`]).
    fn from_ident(s: &str) -> Option<Kw> {
        Kw::FIELD
            .into_iter()
            .chain([Kw::All])
            .find(|k| k.name() == s)
    }

    /// `` `email`, `last4`, `fingerprint`, `len`, `with = path`, `public` ``
    fn field_list() -> String {
        Kw::FIELD
            .iter()
            .map(|k| match k {
                Kw::With => "`with = path`".to_owned(),
                k => format!("`{}`", k.name()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where an attribute sits: decides the message for an unknown keyword.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Container,
    Variant,
    Field,
}

/// The field policies, for messages.
pub fn field_policies() -> String {
    format!(
        "{}, or a bare `#[redact]` for a full mask",
        Kw::field_list()
    )
}

/// One keyword as written.
pub struct Arg {
    pub kw: Kw,
    pub span: Span,
    /// The function of `with = path`.
    pub with: Option<syn::Path>,
}

/// Parses every `#[redact]` attribute in `attrs` (in order). Malformed ones are reported and
/// skipped.
pub fn parse(ctx: &Ctxt, attrs: &[syn::Attribute], place: Place) -> Vec<Arg> {
    let mut args = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident(REDACT) {
            continue;
        }
        match &attr.meta {
            syn::Meta::Path(path) => args.push(Arg {
                kw: Kw::Bare,
                span: path.span(),
                with: None,
            }),
            syn::Meta::NameValue(nv) => ctx.error_at(
                nv.eq_token.span,
                format!(
                    "expected `#[redact]` or `#[redact(policy)]`, found `#[redact = ...]`; policies: {}",
                    field_policies()
                ),
            ),
            syn::Meta::List(list) => {
                let before = args.len();
                let parsed = list.parse_nested_meta(|meta| {
                    let span = meta.path.span();
                    let kw = meta
                        .path
                        .get_ident()
                        .and_then(|i| Kw::from_ident(&i.to_string()));
                    let Some(kw) = kw else {
                        let shown = path_string(&meta.path);
                        ctx.error_at(span, unknown_message(&shown, place));
                        skip_value(&meta);
                        return Ok(());
                    };
                    if kw == Kw::With {
                        if !meta.input.peek(syn::Token![=]) {
                            ctx.error_at(
                                span,
                                "`with` needs a function: `#[redact(with = path::to::function)]`",
                            );
                            skip_value(&meta);
                            return Ok(());
                        }
                        let value = meta.value()?;
                        match value.parse::<syn::Path>() {
                            Ok(path) => args.push(Arg {
                                kw,
                                span,
                                with: Some(path),
                            }),
                            Err(_) => {
                                ctx.error_at(
                                    value.span(),
                                    "`with` needs a function path: `#[redact(with = path::to::function)]`",
                                );
                                skip_rest(value);
                            }
                        }
                        return Ok(());
                    }
                    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                        ctx.error_at(
                            span,
                            format!("`{}` takes no value: write `{}`", kw.name(), kw.spelled()),
                        );
                        skip_value(&meta);
                        return Ok(());
                    }
                    args.push(Arg {
                        kw,
                        span,
                        with: None,
                    });
                    Ok(())
                });
                match parsed {
                    Err(e) => ctx.push(e),
                    Ok(()) if args.len() == before && list.tokens.is_empty() => ctx.error_at(
                        list.delimiter.span().join(),
                        format!(
                            "empty `#[redact()]`; write `#[redact]` for a full mask, or name one of {}",
                            Kw::field_list()
                        ),
                    ),
                    Ok(()) => {}
                }
            }
        }
    }
    args
}

fn unknown_message(shown: &str, place: Place) -> String {
    match place {
        Place::Container => format!(
            "unknown `redact` container policy `{shown}`; expected `all` (mask every field not marked `#[redact(public)]`)"
        ),
        Place::Field | Place::Variant => {
            format!(
                "unknown `redact` policy `{shown}`; expected one of {}",
                field_policies()
            )
        }
    }
}

fn path_string(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// After an error: consume `= value` or `(...)` so the next keyword still parses.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) {
    if meta.input.peek(syn::Token![=]) {
        if let Ok(value) = meta.value() {
            skip_rest(value);
        }
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|m| {
            skip_value(&m);
            Ok(())
        });
    }
}

fn skip_rest(input: syn::parse::ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt
                && p.as_char() == ','
            {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_list_every_field_policy() {
        assert_eq!(
            field_policies(),
            "`email`, `last4`, `fingerprint`, `len`, `with = path`, `public`, or a bare `#[redact]` for a full mask"
        );
        for k in Kw::FIELD.into_iter().chain([Kw::All]) {
            assert_eq!(Kw::from_ident(k.name()), Some(k));
        }
        assert_eq!(Kw::from_ident("redact"), None);
    }
}
