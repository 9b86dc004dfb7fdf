use observa::Redact;

#[derive(Redact)]
struct Profile {
    #[redact(all)]
    name: String,
}

fn main() {}
