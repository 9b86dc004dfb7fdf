use observa::Redact;

#[derive(Redact)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
