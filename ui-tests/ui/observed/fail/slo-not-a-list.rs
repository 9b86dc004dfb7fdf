use observa::observed;

#[observed(slo = 99.9)]
fn f() {}

fn main() {}
