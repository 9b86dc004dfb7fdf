use observa::observed;

#[observed(metrics = false, metric = "worker_jobs")]
fn f() {}

fn main() {}
