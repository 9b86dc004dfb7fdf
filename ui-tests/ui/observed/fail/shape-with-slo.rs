use observa::observed;

#[observed(metric = "worker_jobs", outcome_label = "status", slo(success = 99.9))]
fn f() {}

fn main() {}
