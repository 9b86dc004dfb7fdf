use observa::observed;

#[observed(bind(job_id, job_id = 3))]
fn f(job_id: u64) {
    let _ = job_id;
}

fn main() {}
