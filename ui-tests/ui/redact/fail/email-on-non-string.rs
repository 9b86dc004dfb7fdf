use observa::Redact;

#[derive(Redact)]
struct Invite {
    #[redact(email)]
    to: Vec<u8>,
}

fn main() {}
