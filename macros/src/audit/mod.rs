//! `#[audit]`: parse -> validate -> expand.
//!
//! - `args.rs`: the attribute's keys, parsed;
//! - `validate.rs`: the rules between them and the function's shape, into a `Plan`;
//! - `expand.rs`: tokens only. The write-ahead logic (`attempted` record before the body, the
//!   outcome after it, panics and cancellation) lives in the runtime (`observa::audit`,
//!   `audit/call.rs`).

mod args;
mod expand;
mod validate;

use crate::common::Ctxt;
use crate::common::item_fn::MaybeItemFn;
use args::Args;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

pub fn audit(attr: TokenStream, item: TokenStream) -> TokenStream {
    let ctx = Ctxt::new();
    let args = Args::parse(&ctx, attr);
    // A body that does not parse is kept as raw tokens (`common::item_fn`).
    let mut f = match MaybeItemFn::parse(item.clone()) {
        Ok(f) => f.into_inner(),
        Err(_) => {
            ctx.error_at(
                Span::call_site(),
                "`#[audit]` applies to functions and methods",
            );
            return ctx.finish(item);
        }
    };
    let plan = validate::plan(&ctx, args, &mut f);
    if let Some(plan) = plan
        && !ctx.has_errors()
    {
        if cfg!(feature = "enabled") {
            expand::expand(&plan, &mut f);
        } else {
            let exprs = [
                Some(&plan.actor),
                plan.target.as_ref(),
                plan.reason.as_ref(),
            ]
            .into_iter()
            .flatten()
            .chain(plan.changes.iter().flat_map(|(b, a)| [b, a]));
            crate::common::mention_when_disabled(&mut f.block, exprs);
        }
    }
    ctx.finish(f.into_token_stream())
}
