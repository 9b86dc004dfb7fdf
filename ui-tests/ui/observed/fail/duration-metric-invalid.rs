use observa::observed;

#[observed(metric = "worker_jobs", duration_metric = "worker_job_duration_seconds_count")]
fn f() {}

#[observed(metric = "worker_jobs", duration_metric = "worker job")]
fn g() {}

fn main() {}
