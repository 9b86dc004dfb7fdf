use observa::observed;

#[observed(metric = "worker jobs")]
fn f() {}

fn main() {}
