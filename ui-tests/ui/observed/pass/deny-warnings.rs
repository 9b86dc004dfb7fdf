#![deny(warnings, unused, clippy::all)]

use observa::observed;

#[observed(ret, fields(x))]
fn f(x: u32) -> u32 {
    x
}

#[observed(ret)]
fn g(x: u32) -> Result<u32, std::io::Error> {
    Ok(x)
}

#[observed(skip(secret))]
fn h(secret: String) -> usize {
    secret.len()
}

fn main() {
    let _ = f(1);
    let _ = g(1);
    let _ = h(String::new());
}
