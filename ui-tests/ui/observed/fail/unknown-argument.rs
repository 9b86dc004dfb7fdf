use observa::observed;

#[observed(lvl = "info")]
fn f() {}

fn main() {}
