use observa::observed;

struct Worker;

#[observed(tenant)]
impl Worker {
    fn run(&self, tenant: &str) {
        let _ = tenant;
    }
}

fn main() {}
