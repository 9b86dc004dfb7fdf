use observa::Redact;

#[derive(Redact)]
#[redact(email)]
struct Invite {
    to: String,
}

fn main() {}
