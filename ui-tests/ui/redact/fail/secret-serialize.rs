use observa::Secret;

#[derive(serde::Serialize)]
struct Upstream {
    token: Secret<String>,
}

fn main() {}
