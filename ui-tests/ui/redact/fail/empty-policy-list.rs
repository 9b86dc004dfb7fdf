use observa::Redact;

#[derive(Redact)]
struct Login {
    #[redact()]
    password: String,
}

fn main() {}
