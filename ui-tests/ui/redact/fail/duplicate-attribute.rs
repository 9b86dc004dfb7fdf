use observa::Redact;

#[derive(Redact)]
struct Login {
    #[redact]
    #[redact]
    password: String,
}

fn main() {}
