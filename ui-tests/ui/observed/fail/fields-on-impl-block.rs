use observa::observed;

struct Worker;

#[observed(fields(job_id))]
impl Worker {
    fn run(&self, job_id: u64) {
        let _ = job_id;
    }
}

fn main() {}
