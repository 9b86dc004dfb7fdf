use observa::Redact;

#[derive(Redact)]
struct Invite {
    #[redact(email = "domain")]
    to: String,
}

fn main() {}
