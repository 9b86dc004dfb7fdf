use observa::observed;

#[observed(skip(job_id), fields(job_id))]
fn f(job_id: u64) {
    let _ = job_id;
}

fn main() {}
