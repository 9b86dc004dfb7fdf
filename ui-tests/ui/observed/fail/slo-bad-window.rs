use observa::observed;

#[observed(slo(success = 99.9, window = "30 days"))]
fn f() {}

fn main() {}
