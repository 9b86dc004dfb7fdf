use observa::Redact;

#[derive(Redact)]
#[redact]
struct Invite {
    to: String,
}

fn main() {}
