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

fn main() {
    let _ = f(1);
    let _ = g(1);
}
