use observa::observed;

#[observed(buckets = [0.1, 0.5, 1.0], slo(latency_ms = 250, percentile = 99))]
fn f() {}

fn main() {}
