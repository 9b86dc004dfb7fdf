use observa::observed;

#[observed(metric = "worker_jobs", outcome_label = "status", outcomes(success = "completed", failed = ""))]
fn f() {}

fn main() {}
