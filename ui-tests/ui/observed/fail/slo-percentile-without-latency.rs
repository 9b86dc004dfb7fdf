use observa::observed;

#[observed(slo(success = 99.9, percentile = 99))]
fn f() {}

fn main() {}
