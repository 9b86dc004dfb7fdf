use observa::audit;

#[derive(Debug)]
struct E;
impl From<observa::audit::AuditError> for E {
    fn from(_: observa::audit::AuditError) -> Self {
        E
    }
}

#[audit(action = "user.update", actor = "admin", changes = (1u8, 2u8, 3u8))]
fn f() -> Result<(), E> {
    Ok(())
}

fn main() {}
