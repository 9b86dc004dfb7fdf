use observa::observed;

#[observed(level = "loud")]
fn f() {}

fn main() {}
