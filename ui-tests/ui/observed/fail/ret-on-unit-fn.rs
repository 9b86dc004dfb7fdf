use observa::observed;

#[observed(ret)]
fn f() {}

fn main() {}
