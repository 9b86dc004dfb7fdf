use observa::Redact;

#[derive(Redact)]
struct Invite {
    #[redact(email, email)]
    to: String,
}

fn main() {}
