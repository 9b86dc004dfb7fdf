use observa::observed;

#[observed(metric = "api_requests", labels(tenant_id = "acme"))]
fn f() {}

fn main() {}
