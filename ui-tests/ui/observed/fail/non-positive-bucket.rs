use observa::observed;

#[observed(buckets = [0, 0.1, 1.0])]
fn f() {}

fn main() {}
