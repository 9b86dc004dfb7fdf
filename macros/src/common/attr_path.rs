//! Recognising an attribute by its path, one rule for every macro: the bare name as imported
//! (`#[observed]`), the crate's path (`#[observa::observed]`) or the absolute one
//! (`#[::observa::observed]`).

/// An attribute of `krate` named `name`.
#[derive(Clone, Copy)]
pub struct AttrPath {
    pub krate: &'static str,
    pub name: &'static str,
}

pub const OBSERVED: AttrPath = AttrPath {
    krate: "observa",
    name: "observed",
};
pub const AUDIT: AttrPath = AttrPath {
    krate: "observa",
    name: "audit",
};
/// Helper attributes of the derives: only ever bare.
pub const CLASSIFY: &str = "classify";
pub const REDACT: &str = "redact";

impl AttrPath {
    /// `name`, `krate::name` or `::krate::name`.
    pub fn matches(self, path: &syn::Path) -> bool {
        let segs: Vec<_> = path.segments.iter().collect();
        if segs.iter().any(|s| !s.arguments.is_none()) {
            return false;
        }
        match segs.as_slice() {
            [n] => path.leading_colon.is_none() && n.ident == self.name,
            [k, n] => k.ident == self.krate && n.ident == self.name,
            _ => false,
        }
    }

    pub fn is(self, attr: &syn::Attribute) -> bool {
        self.matches(attr.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> syn::Path {
        syn::parse_str(s).unwrap()
    }

    #[test]
    fn paths() {
        assert!(OBSERVED.matches(&p("observed")));
        assert!(OBSERVED.matches(&p("observa::observed")));
        assert!(OBSERVED.matches(&p("::observa::observed")));
        assert!(!OBSERVED.matches(&p("::observed")));
        assert!(!OBSERVED.matches(&p("other::observed")));
        assert!(!OBSERVED.matches(&p("observa::audit")));
        assert!(AUDIT.matches(&p("observa::audit")));
        let async_trait = AttrPath {
            krate: "async_trait",
            name: "async_trait",
        };
        assert!(async_trait.matches(&p("async_trait::async_trait")));
        assert!(async_trait.matches(&p("async_trait")));
    }
}
