use observa::observed;

#[observed(metrics = false, labels(job_type = "shopify_sync"))]
fn f() {}

fn main() {}
