use observa::observed;

#[observed(bind(job_id))]
fn f(id: u64) {
    let _ = id;
}

fn main() {}
