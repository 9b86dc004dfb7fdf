#[derive(observa::Classify)]
union U {
    a: u32,
}

fn main() {}
