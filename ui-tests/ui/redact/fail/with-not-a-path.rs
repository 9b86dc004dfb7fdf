use observa::Redact;

#[derive(Redact)]
struct Contact {
    #[redact(with = "mask_phone")]
    phone: String,
}

fn main() {}
