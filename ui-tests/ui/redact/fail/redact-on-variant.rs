use observa::Redact;

#[derive(Redact)]
enum Credential {
    #[redact]
    ApiKey(String),
    Anonymous,
}

fn main() {}
