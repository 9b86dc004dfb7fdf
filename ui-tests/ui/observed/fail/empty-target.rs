use observa::observed;

#[observed(target = "")]
fn f() {}

fn main() {}
