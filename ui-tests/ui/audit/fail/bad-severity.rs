use observa::audit;

#[derive(Debug)]
struct E;
impl From<observa::audit::AuditError> for E {
    fn from(_: observa::audit::AuditError) -> Self {
        E
    }
}

#[audit(action = "user.suspend", actor = "admin", severity = "urgent")]
fn f() -> Result<(), E> {
    Ok(())
}

fn main() {}
