use observa::observed;

#[observed(metric = "worker_jobs", labels(le = "0.5"))]
fn f() {}

#[observed(metric = "worker_jobs", outcome_label = "event")]
fn g() {}

fn main() {}
