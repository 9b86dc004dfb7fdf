use observa::observed;

#[observed(metric = "worker_jobs", labels(jöb = "a", __private = "b"))]
fn f() {}

fn main() {}
