use observa::observed;

struct Worker;

#[observed]
impl Worker {
    #[observed = "run"]
    fn run(&self) {}
}

fn main() {}
