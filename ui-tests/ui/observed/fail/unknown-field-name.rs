use observa::observed;

#[observed(fields(job))]
fn f(job_id: u64) {
    let _ = job_id;
}

fn main() {}
