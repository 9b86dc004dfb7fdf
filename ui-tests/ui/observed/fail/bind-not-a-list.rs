use observa::observed;

#[observed(bind = job_id)]
fn f(job_id: u64) {
    let _ = job_id;
}

fn main() {}
