use observa::Redact;

#[derive(Redact)]
struct Login {
    #[redact = "full"]
    password: String,
}

fn main() {}
