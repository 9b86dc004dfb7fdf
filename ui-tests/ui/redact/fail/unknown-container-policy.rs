use observa::Redact;

#[derive(Redact)]
#[redact(deny)]
struct Login {
    password: String,
}

fn main() {}
