use observa::observed;

#[observed(event = sync_job)]
fn f() {}

fn main() {}
