use observa::observed;

#[observed(slo(window = "30d"))]
fn f() {}

fn main() {}
