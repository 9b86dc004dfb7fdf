//! The expansion uses absolute paths only.
#![no_implicit_prelude]

use ::observa::audit;

pub struct E;
impl ::std::fmt::Display for E {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str("e")
    }
}
impl ::core::convert::From<::observa::audit::AuditError> for E {
    fn from(_: ::observa::audit::AuditError) -> Self {
        E
    }
}

#[audit(action = "user.suspend", actor = "admin", target = id, severity = "high", changes = (id, id))]
fn sync_fn(id: u64) -> ::core::result::Result<u64, E> {
    ::core::result::Result::Ok(id)
}

#[audit(action = "user.delete", actor = "admin", target = id)]
async fn async_fn(id: u64) -> ::core::result::Result<u64, E> {
    ::core::result::Result::Ok(id)
}

#[audit(action = "report.export", actor = "job", policy = "degrade_and_alert")]
fn no_result() -> usize {
    1
}

#[audit(action = "order.fetch", actor = "job")]
fn returns_future(id: u64) -> impl ::core::future::Future<Output = ::core::result::Result<u64, E>> {
    async move { ::core::result::Result::Ok(id) }
}

#[audit(action = "order.load", actor = "job", future)]
fn returns_boxed(
    id: u64,
) -> ::core::pin::Pin<
    ::std::boxed::Box<dyn ::core::future::Future<Output = ::core::result::Result<u64, E>> + ::core::marker::Send>,
> {
    ::std::boxed::Box::pin(async move { ::core::result::Result::Ok(id) })
}

fn main() {
    let _ = sync_fn(1);
    let _ = async_fn(1);
    let _ = no_result();
    let _ = returns_future(1);
    let _ = returns_boxed(1);
}
