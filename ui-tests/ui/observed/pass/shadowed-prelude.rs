//! Generated code does not depend on prelude names the user may shadow.
#![allow(dead_code)]

use observa::observed;

struct Option;
struct Result;
struct Box;
struct Some;
struct None;
struct Ok;
struct Err;
struct Vec;
struct String;
trait Display {}
trait Future {}

mod core {}
mod std {}

#[observed(fields(a), tenant = "t")]
fn f(a: u64) -> u64 {
    a
}

#[observed]
async fn g(a: u64) -> ::core::result::Result<u64, ::std::string::String> {
    ::core::result::Result::Ok(a)
}

#[observed]
fn h(a: u64) -> impl ::core::future::Future<Output = u64> {
    async move { a }
}

#[observed]
fn i(
    a: u64,
) -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = u64> + ::core::marker::Send>> {
    ::std::boxed::Box::pin(async move { a })
}

fn main() {
    let _ = h(1);
    let _ = i(1);
    let _ = f(1);
    let _ = g(1);
}
