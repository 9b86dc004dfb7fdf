use observa::observed;

#[observed(fields(outcome = 1u8))]
fn f() {}

fn main() {}
