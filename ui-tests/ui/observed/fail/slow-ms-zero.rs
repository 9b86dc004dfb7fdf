use observa::observed;

#[observed(slow_ms = 0)]
fn f() {}

fn main() {}
