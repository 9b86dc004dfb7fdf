use observa::observed;

#[observed(event = "a", event = "b")]
fn f() {}

fn main() {}
