//! The typed model of a `#[derive(Redact)]` input.

use super::attr::{self, Place};
use super::valid;
use crate::common::Ctxt;
use proc_macro2::Span;
use syn::spanned::Spanned;

pub struct Input<'a> {
    pub ident: &'a syn::Ident,
    pub generics: &'a syn::Generics,
    pub data: Data<'a>,
}

pub enum Data<'a> {
    Struct(Style, Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Named,
    Tuple,
    Unit,
}

pub struct Variant<'a> {
    pub ident: &'a syn::Ident,
    pub style: Style,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub member: syn::Member,
    /// The key in `Debug` and in the recorded object (`r#type` is `type`).
    pub name: String,
    pub ty: &'a syn::Type,
    pub policy: Policy,
    /// Where errors about the field's type point.
    pub span: Span,
}

/// What a field shows, after the container mode and the attributes are applied.
pub enum Policy {
    /// `[REDACTED]`, the value is never touched (`#[redact]`, `#[redact(all)]`, or an unnamed
    /// field without attribute).
    Mask,
    /// No attribute: masked when the name is sensitive (decided by the runtime's
    /// `is_sensitive` at compile time), shown otherwise.
    ByName(String),
    /// Shown (`#[redact(public)]`).
    Show,
    Email,
    Last4,
    Fingerprint,
    Len,
    With(syn::Path),
    /// `PhantomData`: no data; `Debug` as is, not recorded.
    Phantom,
}

impl<'a> Input<'a> {
    pub fn from_syn(ctx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Input<'a>> {
        let container = attr::parse(ctx, &input.attrs, Place::Container);
        let all = valid::container(ctx, &container);
        let data = match &input.data {
            syn::Data::Struct(s) => {
                let (style, fields) = fields(ctx, &s.fields, all);
                Data::Struct(style, fields)
            }
            syn::Data::Enum(e) => Data::Enum(
                e.variants
                    .iter()
                    .map(|v| {
                        let args = attr::parse(ctx, &v.attrs, Place::Variant);
                        valid::variant(ctx, &args);
                        let (style, fields) = fields(ctx, &v.fields, all);
                        Variant {
                            ident: &v.ident,
                            style,
                            fields,
                        }
                    })
                    .collect(),
            ),
            syn::Data::Union(u) => {
                ctx.error_at(
                    u.union_token.span,
                    "`Redact` cannot be derived for unions; derive it for a struct or an enum, or keep the data in an `observa::Secret`",
                );
                return None;
            }
        };
        Some(Input {
            ident: &input.ident,
            generics: &input.generics,
            data,
        })
    }
}

fn fields<'a>(ctx: &Ctxt, fields: &'a syn::Fields, all: bool) -> (Style, Vec<Field<'a>>) {
    let style = match fields {
        syn::Fields::Named(_) => Style::Named,
        syn::Fields::Unnamed(_) => Style::Tuple,
        syn::Fields::Unit => Style::Unit,
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let args = attr::parse(ctx, &f.attrs, Place::Field);
            let (member, name) = match &f.ident {
                Some(ident) => (syn::Member::Named(ident.clone()), unraw(&ident.to_string())),
                None => (
                    syn::Member::Unnamed(syn::Index {
                        index: i as u32,
                        span: f.ty.span(),
                    }),
                    i.to_string(),
                ),
            };
            let named = f.ident.as_ref().map(|_| name.as_str());
            let policy = valid::field(ctx, &args, all, named, is_phantom(&f.ty));
            Field {
                member,
                name,
                ty: &f.ty,
                policy,
                span: f.ty.span(),
            }
        })
        .collect();
    (style, fields)
}

fn unraw(s: &str) -> String {
    s.strip_prefix("r#").unwrap_or(s).to_owned()
}

fn is_phantom(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "PhantomData" || s.ident == "PhantomPinned"),
        _ => false,
    }
}
