use observa::observed;

#[observed(metric = "worker_jobs", labels(job_type = shopify_sync))]
fn f(shopify_sync: &str) {
    let _ = shopify_sync;
}

fn main() {}
