use observa::observed;

#[observed(err(Loud))]
fn f() -> Result<(), String> {
    Ok(())
}

fn main() {}
