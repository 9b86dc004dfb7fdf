//! Generated code does not depend on prelude names the user may shadow.
#![allow(dead_code)]

use observa::audit;

struct Option;
struct Result;
struct Box;
struct Some;
struct None;
struct Ok;
struct Err;
struct Vec;
struct String;
struct From;
trait Display {}
trait Future {}
trait Into {}

mod core {}
mod std {}

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

#[audit(action = "user.suspend", actor = "admin", target = id, severity = "high", reason = "tos", category = "users", changes = (id, id))]
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

#[audit(action = "report.build", actor = "job", policy = "degrade_and_alert")]
async fn async_no_result() -> usize {
    1
}

#[audit(action = "order.fetch", actor = "job")]
fn returns_future(id: u64) -> impl ::core::future::Future<Output = ::core::result::Result<u64, E>> {
    async move { ::core::result::Result::Ok(id) }
}

#[audit(action = "order.load", actor = "job")]
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
    let _ = async_no_result();
    let _ = returns_future(1);
    let _ = returns_boxed(1);
}
