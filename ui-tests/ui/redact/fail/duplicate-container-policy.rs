use observa::Redact;

#[derive(Redact)]
#[redact(all)]
#[redact(all)]
struct Profile {
    name: String,
}

fn main() {}
