use observa::observed;

#[observed(slo(latency_ms = 250, percentile = 0))]
fn f() {}

fn main() {}
