use observa::observed;

#[observed(bind(tenant_id = "t", event = "e"))]
fn f() {}

fn main() {}
