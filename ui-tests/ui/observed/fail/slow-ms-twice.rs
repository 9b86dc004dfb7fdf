use observa::observed;

#[observed(slow_ms = 10, slow_ms = 20)]
fn f() {}

fn main() {}
