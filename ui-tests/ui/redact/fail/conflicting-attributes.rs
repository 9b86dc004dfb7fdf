use observa::Redact;

#[derive(Redact)]
struct Payment {
    #[redact]
    #[redact(public)]
    card: String,
}

fn main() {}
