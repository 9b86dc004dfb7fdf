use observa::observed;

#[observed(buckets = ["fast", "slow"])]
fn f() {}

fn main() {}
