use observa::Redact;

#[derive(Debug, Redact)]
struct Login {
    password: String,
}

fn main() {}
