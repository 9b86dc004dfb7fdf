use observa::observed;

#[observed(fields(job_id, job_id = 2u8))]
fn f(job_id: u64) {
    let _ = job_id;
}

fn main() {}
