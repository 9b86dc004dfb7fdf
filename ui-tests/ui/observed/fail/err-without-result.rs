use observa::observed;

#[observed(err)]
fn f() -> u32 {
    1
}

fn main() {}
