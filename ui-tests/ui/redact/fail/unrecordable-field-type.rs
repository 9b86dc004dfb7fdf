use observa::Redact;

#[derive(Debug)]
struct Address {
    street: String,
}

#[derive(Redact)]
struct Customer {
    id: u64,
    address: Address,
}

fn main() {}
