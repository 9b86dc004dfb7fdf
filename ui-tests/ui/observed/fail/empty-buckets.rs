use observa::observed;

#[observed(buckets = [])]
fn f() {}

fn main() {}
