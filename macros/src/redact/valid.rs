//! Which `#[redact]` keyword may go where; duplicates and conflicts.

use super::ast::Policy;
use super::attr::{Arg, Kw};
use crate::common::Ctxt;

/// Container attributes: only `all`. Returns whether deny-by-default is on.
pub fn container(ctx: &Ctxt, args: &[Arg]) -> bool {
    let mut all = false;
    for arg in args {
        match arg.kw {
            Kw::All if all => ctx.error_at(arg.span, "duplicate `redact` policy `all`; give it once"),
            Kw::All => all = true,
            Kw::Bare => ctx.error_at(
                arg.span,
                "a bare `#[redact]` on a struct or enum has no meaning; write `#[redact(all)]` to mask every field not marked `#[redact(public)]`, or put `#[redact]` on the fields to mask",
            ),
            kw => ctx.error_at(
                arg.span,
                format!(
                    "`{}` is a field policy: put `{}` on a field; the container takes `#[redact(all)]`",
                    kw.name(),
                    kw.spelled()
                ),
            ),
        }
    }
    all
}

/// Variant attributes: none.
pub fn variant(ctx: &Ctxt, args: &[Arg]) {
    if let Some(arg) = args.first() {
        ctx.error_at(
            arg.span,
            "`#[redact]` is not supported on enum variants; put it on the variant's fields, or `#[redact(all)]` on the enum",
        );
    }
}

/// A field's policy from its attributes, the container mode and its name.
pub fn field(ctx: &Ctxt, args: &[Arg], all: bool, name: Option<&str>, phantom: bool) -> Policy {
    let mut chosen: Option<&Arg> = None;
    for arg in args {
        if arg.kw == Kw::All {
            ctx.error_at(
                arg.span,
                "`all` is a container policy: put `#[redact(all)]` on the struct or enum, and `#[redact(public)]` on the fields to show",
            );
            continue;
        }
        match chosen {
            None => chosen = Some(arg),
            Some(first) if first.kw == arg.kw => ctx.error_at(
                arg.span,
                if arg.kw == Kw::Bare {
                    "duplicate `#[redact]`; give it once".to_owned()
                } else {
                    format!(
                        "duplicate `redact` policy `{}`; give it once",
                        arg.kw.name()
                    )
                },
            ),
            Some(first) => ctx.error_at(
                arg.span,
                format!(
                    "conflicting `redact` policies: `{}` and `{}`; a field takes one policy",
                    first.spelled_short(),
                    arg.spelled_short()
                ),
            ),
        }
    }
    match chosen {
        Some(arg) => match arg.kw {
            Kw::Bare => Policy::Mask,
            Kw::Email => Policy::Email,
            Kw::Last4 => Policy::Last4,
            Kw::Fingerprint => Policy::Fingerprint,
            Kw::Len => Policy::Len,
            Kw::Public if phantom => Policy::Phantom,
            Kw::Public => Policy::Show,
            Kw::With => match &arg.with {
                Some(path) => Policy::With(path.clone()),
                None => Policy::Mask,
            },
            Kw::All => Policy::Mask,
        },
        None if phantom => Policy::Phantom,
        None if all => Policy::Mask,
        None => match name {
            Some(name) => Policy::ByName(name.to_owned()),
            // An unnamed field has no name to judge: masked unless marked.
            None => Policy::Mask,
        },
    }
}

impl Arg {
    fn spelled_short(&self) -> String {
        match self.kw {
            Kw::Bare => "#[redact]".to_owned(),
            Kw::With => "with = ...".to_owned(),
            kw => kw.name().to_owned(),
        }
    }
}
