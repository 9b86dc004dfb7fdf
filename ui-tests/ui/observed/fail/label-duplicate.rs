use observa::observed;

#[observed(metric = "worker_jobs", labels(job_type = "a", job_type = "b"))]
fn f() {}

#[observed(metric = "worker_jobs", labels(status = "x"), outcome_label = "status")]
fn g() {}

fn main() {}
