use observa::Redact;

#[derive(Redact)]
struct Contact {
    #[redact(with)]
    phone: String,
}

fn main() {}
