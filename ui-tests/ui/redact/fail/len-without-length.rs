use observa::Redact;

#[derive(Redact)]
struct Upload {
    #[redact(len)]
    size: u64,
}

fn main() {}
