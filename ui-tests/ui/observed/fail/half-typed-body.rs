//! A body being typed (`let y = x +;`): one syntax error, rustc's, not a second copy from the
//! attribute, one per body.
use observa::observed;

#[observed(fields(x))]
fn f(x: u64) -> u64 {
    let y = x +;
    y
}

#[observed(fields(x))]
async fn g(x: u64) -> u64 {
    let y = x *;
    y
}

pub struct Repo;

#[observed]
impl Repo {
    pub fn ok(&self) -> u8 {
        1
    }

    pub fn typing(&self, x: u8) -> u8 {
        let y = x -;
        y
    }
}

fn main() {}
