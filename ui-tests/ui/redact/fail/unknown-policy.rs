use observa::Redact;

#[derive(Redact)]
struct Login {
    #[redact(hash)]
    password: String,
}

fn main() {}
