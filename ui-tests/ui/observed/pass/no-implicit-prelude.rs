#![no_implicit_prelude]

use ::observa::observed;

#[observed(fields(a, b = a + 1), tenant = "t", err)]
fn f(a: u64) -> ::core::result::Result<u64, ::std::string::String> {
    ::core::result::Result::Ok(a)
}

#[observed(user = 7u32)]
async fn g(a: u64) -> u64 {
    a
}

#[observed(err)]
fn h(a: u64) -> impl ::core::future::Future<Output = ::core::result::Result<u64, u8>> {
    async move { ::core::result::Result::Ok(a) }
}

#[observed(future)]
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
