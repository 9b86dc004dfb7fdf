use observa::observed;

#[observed(bind(job = job))]
fn f(job: Vec<u8>) {
    let _ = job;
}

fn main() {}
