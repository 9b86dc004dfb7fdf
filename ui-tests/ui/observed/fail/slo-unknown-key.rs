use observa::observed;

#[observed(slo(succes = 99.9))]
fn f() {}

fn main() {}
