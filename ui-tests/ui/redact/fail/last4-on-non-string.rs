use observa::Redact;

#[derive(Redact)]
struct Payment {
    #[redact(last4)]
    card: u64,
}

fn main() {}
