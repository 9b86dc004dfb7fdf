use observa::observed;

#[observed(slo(success = 100))]
fn f() {}

fn main() {}
