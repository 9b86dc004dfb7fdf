//! A body being typed (`let y = x +;`): one syntax error, rustc's, not a second copy from the
//! attribute, one per body.
use observa::audit;

#[audit(action = "user.suspend", actor = "admin", policy = "degrade_and_alert")]
fn f(x: u64) -> u64 {
    let y = x +;
    y
}

#[audit(action = "user.suspend", actor = "admin", policy = "degrade_and_alert")]
async fn g(x: u64) -> u64 {
    let y = x *;
    y
}

fn main() {}
