use observa::observed;

struct Worker;

#[observed(event = "worker")]
impl Worker {
    #[observed(fields(job))]
    fn run(&self, job_id: u64) {
        let _ = job_id;
    }
}

fn main() {}
