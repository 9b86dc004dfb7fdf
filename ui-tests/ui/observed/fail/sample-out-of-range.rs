use observa::observed;

#[observed(sample = 1.5)]
fn f() {}

fn main() {}
