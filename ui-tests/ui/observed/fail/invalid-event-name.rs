use observa::observed;

#[observed(event = "Sync-Job")]
fn f() {}

fn main() {}
