use observa::Redact;

#[derive(Debug)]
struct Address {
    street: String,
}

#[derive(Redact)]
struct Shipping(#[redact(public)] Address);

fn main() {}
