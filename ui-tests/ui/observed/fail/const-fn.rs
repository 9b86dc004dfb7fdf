use observa::observed;

#[observed]
const fn f() -> u32 {
    1
}

fn main() {}
