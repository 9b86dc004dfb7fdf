use observa::Redact;
use std::fmt;

fn mask_number(n: &u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}", n % 10)
}

#[derive(Redact)]
struct Contact {
    #[redact(with = mask_number)]
    phone: String,
}

fn main() {}
