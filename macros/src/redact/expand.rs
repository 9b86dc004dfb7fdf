//! Tokens only. Every path is absolute (`::core`, `::observa::__private`), so the expansion works
//! under a shadowed prelude and `#![no_implicit_prelude]`.

use super::ast::{Data, Field, Input, Policy, Style, Variant};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};

pub fn expand(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let generics = bounded_generics(input);
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let debug = debug_body(input);
    let (record, object, list) = record_bodies(input);
    let list_impl = list.map(|body| {
        quote! {
            #[automatically_derived]
            impl #impl_g ::observa::RecordList for #ident #ty_g #where_c {
                fn record_items(
                    &self,
                    __visit: &mut dyn ::core::ops::FnMut(::observa::FieldValue<'_>),
                ) {
                    #body
                }
            }
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #impl_g ::core::fmt::Debug for #ident #ty_g #where_c {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #debug
                }
            }
            #[automatically_derived]
            impl #impl_g ::observa::Record for #ident #ty_g #where_c {
                #[inline]
                fn record(&self) -> ::observa::FieldValue<'_> {
                    #record
                }
            }
            #[automatically_derived]
            impl #impl_g ::observa::RecordObject for #ident #ty_g #where_c {
                fn record_fields(
                    &self,
                    __visit: &mut dyn ::core::ops::FnMut(&::core::primitive::str, ::observa::FieldValue<'_>),
                ) {
                    #object
                }
                fn redacted_debug(&self) -> ::core::option::Option<&dyn ::core::fmt::Debug> {
                    ::core::option::Option::Some(self)
                }
            }
            #list_impl
        };
    }
}

/// Emitted with the errors: the type stays usable (fully masked), so the one real error is all
/// the user sees.
pub fn fallback(input: &syn::DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_g ::core::fmt::Debug for #ident #ty_g #where_c {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::observa::__private::redact::fallback_debug(__f)
                }
            }
            #[automatically_derived]
            impl #impl_g ::observa::Record for #ident #ty_g #where_c {
                fn record(&self) -> ::observa::FieldValue<'_> {
                    ::observa::FieldValue::Redacted
                }
            }
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Per field

/// The policy constructor: the one place where the field's type meets its policy's bound.
/// Spanned on the field's type, and identical in every impl, so a misuse is one error there.
fn ctor(field: &Field<'_>, access: &TokenStream) -> Option<TokenStream> {
    let span = field.span;
    // The field's type is given explicitly: with `_`, a where-clause added for another
    // (generic) field could be picked by inference and unify the two types.
    let ty = field.ty;
    Some(match &field.policy {
        Policy::Mask | Policy::Phantom => return None,
        Policy::ByName(name) => quote_spanned! {span=>
            ::observa::__private::redact::show::<{ ::observa::__private::redact::is_sensitive(#name) }, #ty>(#access)
        },
        Policy::Show => {
            quote_spanned! {span=> ::observa::__private::redact::show::<false, #ty>(#access) }
        }
        Policy::Email => {
            quote_spanned! {span=> ::observa::__private::redact::email::<#ty>(#access) }
        }
        Policy::Last4 => {
            quote_spanned! {span=> ::observa::__private::redact::last4::<#ty>(#access) }
        }
        Policy::Fingerprint => {
            quote_spanned! {span=> ::observa::__private::redact::fingerprint::<#ty>(#access) }
        }
        Policy::Len => quote_spanned! {span=> ::observa::__private::redact::len::<#ty>(#access) },
        Policy::With(path) => {
            let span = path_span(path);
            quote_spanned! {span=>
                ::observa::__private::redact::with::<#ty, _>(#access, |__value, __f| #path(__value, __f))
            }
        }
    })
}

fn path_span(path: &syn::Path) -> Span {
    path.segments
        .last()
        .map(|s| s.ident.span())
        .unwrap_or_else(Span::call_site)
}

/// What `Debug` gets for the field (an expression of type `&dyn Debug`-coercible reference).
fn debug_value(field: &Field<'_>, access: &TokenStream) -> TokenStream {
    match &field.policy {
        Policy::Mask => quote!(&::observa::__private::redact::Masked),
        Policy::Phantom => access.clone(),
        _ => {
            let c = ctor(field, access);
            quote!(&#c)
        }
    }
}

/// The recorded value of the field (`None`: not recorded).
fn record_value(field: &Field<'_>, access: &TokenStream) -> Option<TokenStream> {
    match &field.policy {
        Policy::Mask => Some(quote!(::observa::FieldValue::Redacted)),
        Policy::Phantom => None,
        _ => {
            let c = ctor(field, access);
            Some(quote!(#c.record()))
        }
    }
}

fn self_access(field: &Field<'_>) -> TokenStream {
    let member = &field.member;
    quote!(&self.#member)
}

fn binding(i: usize) -> syn::Ident {
    format_ident!("__self_{}", i)
}

// ---------------------------------------------------------------------------------------------
// Debug

fn debug_body(input: &Input<'_>) -> TokenStream {
    let name = input.ident.unraw_string();
    match &input.data {
        Data::Struct(style, fields) => {
            let accesses: Vec<TokenStream> = fields.iter().map(self_access).collect();
            debug_fields(&name, *style, fields, &accesses)
        }
        Data::Enum(variants) if variants.is_empty() => quote!(match *self {}),
        Data::Enum(variants) => {
            let arms = variants.iter().map(|v| {
                let (pat, accesses) = variant_pattern(v, |f| !matches!(f.policy, Policy::Mask));
                let body = debug_fields(&v.ident.unraw_string(), v.style, &v.fields, &accesses);
                quote!(#pat => { #body })
            });
            quote!(match self { #(#arms)* })
        }
    }
}

fn debug_fields(
    name: &str,
    style: Style,
    fields: &[Field<'_>],
    accesses: &[TokenStream],
) -> TokenStream {
    let values = fields.iter().zip(accesses).map(|(f, a)| debug_value(f, a));
    match style {
        Style::Unit => quote!(::core::fmt::Formatter::write_str(__f, #name)),
        Style::Named => {
            let keys = fields.iter().map(|f| &f.name);
            quote! {
                let mut __d = ::core::fmt::Formatter::debug_struct(__f, #name);
                #( __d.field(#keys, #values); )*
                __d.finish()
            }
        }
        Style::Tuple => quote! {
            let mut __d = ::core::fmt::Formatter::debug_tuple(__f, #name);
            #( __d.field(#values); )*
            __d.finish()
        },
    }
}

/// `Self::V { a: __self_0, b: _ }` / `Self::V(__self_0, _)` / `Self::V`, and the access
/// expression of each field (a binding, already a reference under match ergonomics).
fn variant_pattern(
    v: &Variant<'_>,
    used: impl Fn(&Field<'_>) -> bool,
) -> (TokenStream, Vec<TokenStream>) {
    let ident = v.ident;
    let accesses: Vec<TokenStream> = (0..v.fields.len())
        .map(|i| binding(i).into_token_stream_())
        .collect();
    let binds = v.fields.iter().enumerate().map(|(i, f)| {
        if used(f) {
            let b = binding(i);
            quote!(#b)
        } else {
            quote!(_)
        }
    });
    let pat = match v.style {
        Style::Unit => quote!(Self::#ident),
        Style::Named => {
            let members = v.fields.iter().map(|f| &f.member);
            quote!(Self::#ident { #( #members: #binds ),* })
        }
        Style::Tuple => quote!(Self::#ident( #( #binds ),* )),
    };
    (pat, accesses)
}

// ---------------------------------------------------------------------------------------------
// Record

/// (`Record::record`, `RecordObject::record_fields`, `RecordList::record_items` if any).
fn record_bodies(input: &Input<'_>) -> (TokenStream, TokenStream, Option<TokenStream>) {
    match &input.data {
        Data::Struct(style, fields) => {
            let accesses: Vec<TokenStream> = fields.iter().map(self_access).collect();
            let object = object_visits(fields, &accesses, quote!(__visit));
            match style {
                Style::Named => (quote!(::observa::FieldValue::Object(self)), object, None),
                Style::Unit => {
                    let name = input.ident.unraw_string();
                    (quote!(::observa::FieldValue::Str(#name)), object, None)
                }
                Style::Tuple => {
                    if let [field] = fields.as_slice()
                        && matches!(field.policy, Policy::Mask | Policy::Show)
                        && let Some(v) = record_value(field, &accesses[0])
                    {
                        // A newtype that is shown or masked is recorded as its field.
                        return (v, object, None);
                    }
                    let items = list_visits(fields, &accesses, quote!(__visit));
                    (
                        quote!(::observa::FieldValue::List(self)),
                        object,
                        Some(items),
                    )
                }
            }
        }
        Data::Enum(variants) if variants.is_empty() => {
            (quote!(match *self {}), quote!(match *self {}), None)
        }
        Data::Enum(variants) => {
            let record_arms = variants.iter().map(|v| {
                let ident = v.ident;
                match v.style {
                    Style::Unit => {
                        let name = ident.unraw_string();
                        quote!(Self::#ident => ::observa::FieldValue::Str(#name),)
                    }
                    Style::Named => {
                        quote!(Self::#ident { .. } => ::observa::FieldValue::Object(self),)
                    }
                    Style::Tuple => {
                        quote!(Self::#ident(..) => ::observa::FieldValue::Object(self),)
                    }
                }
            });
            let object_arms = variants.iter().map(|v| {
                let (pat, accesses) = variant_pattern(v, |f| {
                    !matches!(f.policy, Policy::Mask | Policy::Phantom)
                });
                let name = v.ident.unraw_string();
                let payload = match v.style {
                    Style::Unit => quote!(::observa::FieldValue::Null),
                    Style::Named => {
                        let visits = object_visits(&v.fields, &accesses, quote!(__v));
                        quote! {
                            ::observa::FieldValue::Object(&::observa::__private::redact::fields_fn(
                                |__v: &mut dyn ::core::ops::FnMut(&::core::primitive::str, ::observa::FieldValue<'_>)| { #visits }
                            ))
                        }
                    }
                    Style::Tuple => match v.fields.as_slice() {
                        [field] => record_value(field, &accesses[0])
                            .unwrap_or_else(|| quote!(::observa::FieldValue::Null)),
                        fields => {
                            let visits = list_visits(fields, &accesses, quote!(__v));
                            quote! {
                                ::observa::FieldValue::List(&::observa::__private::redact::items_fn(
                                    |__v: &mut dyn ::core::ops::FnMut(::observa::FieldValue<'_>)| { #visits }
                                ))
                            }
                        }
                    },
                };
                quote!(#pat => __visit(#name, #payload),)
            });
            (
                quote!(match self { #(#record_arms)* }),
                quote!(match self { #(#object_arms)* }),
                None,
            )
        }
    }
}

fn object_visits(
    fields: &[Field<'_>],
    accesses: &[TokenStream],
    visit: TokenStream,
) -> TokenStream {
    let visits = fields.iter().zip(accesses).filter_map(|(f, a)| {
        let key = &f.name;
        record_value(f, a).map(|v| quote!(#visit(#key, #v);))
    });
    quote!(#(#visits)*)
}

fn list_visits(fields: &[Field<'_>], accesses: &[TokenStream], visit: TokenStream) -> TokenStream {
    let visits = fields
        .iter()
        .zip(accesses)
        .filter_map(|(f, a)| record_value(f, a).map(|v| quote!(#visit(#v);)));
    quote!(#(#visits)*)
}

// ---------------------------------------------------------------------------------------------
// Generics

/// The input's generics plus, for every field whose type mentions a type or const parameter, the
/// bound its policy needs (serde's approach: concrete field types are checked in the body, where
/// the error points at the field).
fn bounded_generics(input: &Input<'_>) -> syn::Generics {
    let mut generics = input.generics.clone();
    let params: Vec<String> = input
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            syn::GenericParam::Type(t) => Some(t.ident.to_string()),
            syn::GenericParam::Const(c) => Some(c.ident.to_string()),
            _ => None,
        })
        .collect();
    if params.is_empty() {
        return generics;
    }
    let fields: Vec<&Field<'_>> = match &input.data {
        Data::Struct(_, fields) => fields.iter().collect(),
        Data::Enum(variants) => variants.iter().flat_map(|v| v.fields.iter()).collect(),
    };
    let mut preds: Vec<TokenStream> = Vec::new();
    for f in fields {
        if !mentions(quote::ToTokens::to_token_stream(f.ty), &params) {
            continue;
        }
        let ty = f.ty;
        let pred = match &f.policy {
            Policy::ByName(name) => quote! {
                #ty: ::observa::__private::redact::ShowAs<{ ::observa::__private::redact::is_sensitive(#name) }>
            },
            Policy::Show => {
                quote!(#ty: ::observa::__private::redact::ShowAs<false>)
            }
            Policy::Email => quote!(#ty: ::observa::__private::redact::EmailText),
            Policy::Last4 => quote!(#ty: ::observa::__private::redact::Last4Text),
            Policy::Fingerprint => quote!(#ty: ::observa::__private::redact::FingerprintText),
            Policy::Len => quote!(#ty: ::observa::__private::redact::RedactLen),
            Policy::Mask | Policy::With(_) | Policy::Phantom => continue,
        };
        let s = pred.to_string();
        if preds.iter().any(|p| p.to_string() == s) {
            continue;
        }
        preds.push(pred);
    }
    let where_clause = generics.make_where_clause();
    for p in preds {
        match syn::parse2::<syn::WherePredicate>(p) {
            Ok(p) => where_clause.predicates.push(p),
            Err(_) => continue,
        }
    }
    generics
}

fn mentions(tokens: TokenStream, params: &[String]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => params.iter().any(|p| i == p),
        TokenTree::Group(g) => mentions(g.stream(), params),
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------

trait UnrawString {
    fn unraw_string(&self) -> String;
}

impl UnrawString for syn::Ident {
    fn unraw_string(&self) -> String {
        let s = self.to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    }
}

trait IntoTokens {
    fn into_token_stream_(self) -> TokenStream;
}

impl IntoTokens for syn::Ident {
    fn into_token_stream_(self) -> TokenStream {
        quote!(#self)
    }
}
