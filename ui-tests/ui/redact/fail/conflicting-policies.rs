use observa::Redact;

#[derive(Redact)]
struct Payment {
    #[redact(email, last4)]
    contact: String,
}

fn main() {}
