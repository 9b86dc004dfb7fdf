use observa::observed;

#[observed(slow_ms = 0.5)]
fn f() {}

fn main() {}
