#![deny(warnings)]
use observa::observed;

#[observed(slo(success = 99.9, latency_ms = 250, percentile = 99, window = "30d"))]
async fn full() {}

#[observed(slo(success = 99))]
fn success_only() {}

// A threshold outside the default buckets: the runtime adds the bound.
#[observed(slo(latency_ms = 300))]
fn latency_only() {}

// Explicit buckets that contain the threshold; a renamed family; a weekly window.
#[observed(metric = "worker_jobs", buckets = [0.1, 0.25, 1.0], slo(latency_ms = 250, percentile = 95, window = "1w"))]
fn custom_buckets() {}

struct Api;

#[observed(event = "api", slo(success = 99.5))]
impl Api {
    fn get(&self) {}
    #[observed(slo(success = 99.99, window = "7d"))]
    fn put(&self) {}
}

fn main() {
    let _ = full();
    success_only();
    latency_only();
    custom_buckets();
    Api.get();
    Api.put();
}
