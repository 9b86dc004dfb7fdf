use observa::observed;

#[observed(slo(latency_ms = 2.5))]
fn f() {}

fn main() {}
