use observa::observed;

#[observed(metrics = false, slo(success = 99.9))]
fn f() {}

fn main() {}
