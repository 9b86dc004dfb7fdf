use observa::observed;

#[observed(metric = "worker_jobs_total")]
fn f() {}

fn main() {}
