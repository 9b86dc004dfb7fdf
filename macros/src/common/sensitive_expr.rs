//! Which identifiers a recorded expression is made of, so the runtime's one sensitive-name rule
//! judges all of them, not only the name a value is recorded under.
//!
//! `fields(login = password)`, `fields(p = password.as_str())`, `#[audit(target =
//! api_token.as_str())]`: the recorded name (`login`, `p`, `target`) says nothing; the value's
//! source does. Every identifier of the expression counts: paths (`password`,
//! `creds::API_KEY`), field names (`req.token`), method names (`user.session_id()`), and the
//! identifiers inside macro calls (`format!("{password}")`). Types are not values and are left
//! out (`String::from(x)` is judged on `from` and `x`, `as u64` on nothing).
//!
//! The macro does not decide: it emits one `const` expression that calls the runtime's
//! `is_sensitive` on every name, so the list of sensitive words has a single owner.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::visit_mut::VisitMut;

/// The identifiers of `expr` that carry meaning as values (deduplicated, raw prefix removed).
pub fn idents(expr: &syn::Expr) -> Vec<String> {
    let mut c = Collector(Vec::new());
    c.visit_expr_mut(&mut expr.clone());
    c.0
}

/// The names `ret` is judged by: the function's own name, and the identifiers of what the body
/// returns (its tail expression and every `return` expression outside closures, async blocks
/// and nested items). An `#[async_trait]` body (`Box::pin(async move { .. })`) is judged on
/// the async block's returns.
pub fn returned(sig: &syn::Signature, block: &syn::Block) -> Vec<String> {
    let mut c = Collector(Vec::new());
    c.push(&sig.ident.to_string());
    returns_of(&mut c, block);
    c.0
}

/// `const` tokens: true when `name` or any of `names` is sensitive.
pub fn any_sensitive<'a>(
    name: Option<&str>,
    names: impl IntoIterator<Item = &'a String>,
) -> TokenStream {
    let mut all: Vec<&str> = name.into_iter().collect();
    for n in names {
        if !all.contains(&n.as_str()) {
            all.push(n);
        }
    }
    if all.is_empty() {
        return quote!(false);
    }
    quote!(#( ::observa::__private::__is_sensitive(#all) )||*)
}

/// `const` tokens for a value recorded under `name` from `expr`.
pub fn recorded(name: Option<&str>, expr: &syn::Expr) -> TokenStream {
    any_sensitive(name, &idents(expr))
}

fn returns_of(c: &mut Collector, block: &syn::Block) {
    if let Some(syn::Stmt::Expr(tail, None)) = block.stmts.last() {
        match async_trait_body(tail) {
            Some(inner) => return returns_of(c, inner),
            None => c.visit_expr_mut(&mut tail.clone()),
        }
    }
    let mut r = Returns(c);
    r.visit_block_mut(&mut block.clone());
}

/// The block of `Box::pin(async move { .. })`.
fn async_trait_body(e: &syn::Expr) -> Option<&syn::Block> {
    let syn::Expr::Call(call) = e else {
        return None;
    };
    match (call.args.len(), call.args.first()) {
        (1, Some(syn::Expr::Async(a))) => Some(&a.block),
        _ => None,
    }
}

/// Judges the operand of every `return` of a body, not of nested bodies.
struct Returns<'c>(&'c mut Collector);

impl VisitMut for Returns<'_> {
    fn visit_expr_return_mut(&mut self, r: &mut syn::ExprReturn) {
        if let Some(e) = &mut r.expr {
            self.0.visit_expr_mut(e);
        }
    }
    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
    fn visit_expr_async_mut(&mut self, _: &mut syn::ExprAsync) {}
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

struct Collector(Vec<String>);

impl Collector {
    fn push(&mut self, s: &str) {
        let s = s.strip_prefix("r#").unwrap_or(s);
        if matches!(s, "self" | "Self" | "crate" | "super") || self.0.iter().any(|x| x == s) {
            return;
        }
        self.0.push(s.to_owned());
    }

    fn tokens(&mut self, tokens: TokenStream) {
        for tt in tokens {
            match tt {
                TokenTree::Ident(i) => self.push(&i.to_string()),
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Literal(l) => self.format_args(&l.to_string()),
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// The names of inline format arguments in a string literal (`"{password}"`,
    /// `"{token:?}"`).
    fn format_args(&mut self, lit: &str) {
        if !lit.ends_with('"') {
            return;
        }
        let b = lit.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'{' {
                if b.get(i + 1) == Some(&b'{') {
                    i += 2;
                    continue;
                }
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                if end > start && !b[start].is_ascii_digit() {
                    self.push(&lit[start..end]);
                }
                i = end;
            } else {
                i += 1;
            }
        }
    }
}

impl VisitMut for Collector {
    /// A body kept as raw tokens (it does not parse): every identifier in it counts.
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        match e {
            syn::Expr::Verbatim(ts) => self.tokens(ts.clone()),
            e => syn::visit_mut::visit_expr_mut(self, e),
        }
    }
    fn visit_ident_mut(&mut self, i: &mut syn::Ident) {
        self.push(&i.to_string());
    }
    /// Types are not values.
    fn visit_type_mut(&mut self, _: &mut syn::Type) {}
    fn visit_lifetime_mut(&mut self, _: &mut syn::Lifetime) {}
    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        self.visit_path_mut(&mut m.path);
        self.tokens(m.tokens.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: &str) -> Vec<String> {
        idents(&syn::parse_str(s).unwrap())
    }

    #[test]
    fn every_identifier_counts() {
        assert_eq!(of("password"), ["password"]);
        assert_eq!(of("password.as_str()"), ["password", "as_str"]);
        assert_eq!(of("self.creds.api_key"), ["creds", "api_key"]);
        assert_eq!(of("String::from(x) as u64"), ["String", "from", "x"]);
        assert_eq!(of("format!(\"{token:?}-{}\", a)"), ["format", "token", "a"]);
        assert_eq!(of("r#type.len()"), ["type", "len"]);
        assert_eq!(of("Vec::<Password>::new()"), ["Vec", "new"]);
    }

    /// A body kept as raw tokens (it does not parse) is judged on every identifier in it.
    #[test]
    fn raw_body_counts_every_identifier() {
        let t: TokenStream = "fn get() -> String { let a = api_token +; a }"
            .parse()
            .unwrap();
        let f = match crate::common::item_fn::MaybeItemFn::parse(t) {
            Ok(crate::common::item_fn::MaybeItemFn::Raw(f)) => f,
            _ => panic!("expected the raw fallback"),
        };
        assert_eq!(returned(&f.sig, &f.block), ["get", "let", "a", "api_token"]);
    }

    #[test]
    fn returns() {
        let f: syn::ItemFn = syn::parse_str(
            "fn issue(n: u8) -> String { if n == 0 { return fallback; } let f = |x: u8| { return secret; }; token }",
        )
        .unwrap();
        assert_eq!(returned(&f.sig, &f.block), ["issue", "token", "fallback"]);
        let f: syn::ItemFn = syn::parse_str(
            "fn get(&self) -> Pin<Box<dyn Future<Output = String>>> { Box::pin(async move { let a = 1; api_key }) }",
        )
        .unwrap();
        assert_eq!(returned(&f.sig, &f.block), ["get", "api_key"]);
    }
}
