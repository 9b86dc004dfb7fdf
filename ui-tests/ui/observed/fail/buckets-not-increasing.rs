use observa::observed;

#[observed(buckets = [0.1, 0.05, 1.0])]
fn f() {}

fn main() {}
