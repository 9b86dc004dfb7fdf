use observa::Redact;

#[derive(Debug)]
struct Address {
    street: String,
}

#[derive(Redact)]
struct Envelope<T> {
    id: u64,
    payload: T,
}

fn main() {
    let e = Envelope {
        id: 1,
        payload: Address { street: "1 Main St".into() },
    };
    println!("{e:?}");
}
