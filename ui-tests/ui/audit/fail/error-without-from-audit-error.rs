use observa::audit;

#[audit(action = "user.suspend", actor = "admin")]
fn f() -> Result<(), String> {
    Ok(())
}

fn main() {}
