use observa::Redact;

#[derive(Redact)]
struct Event {
    #[redact(fingerprint)]
    session: [u8; 16],
}

fn main() {}
