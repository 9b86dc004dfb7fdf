use observa::observed;

struct Worker {
    id: u64,
}

impl Worker {
    #[observed(fields(self))]
    fn run(&self) -> u64 {
        self.id
    }
}

fn main() {}
