#![deny(warnings)]

use observa::{audit, observed};

#[derive(Debug)]
pub struct E;
impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("e")
    }
}
impl From<observa::audit::AuditError> for E {
    fn from(_: observa::audit::AuditError) -> Self {
        E
    }
}

pub struct Admin {
    pub id: u64,
}

#[audit(action = "user.suspend", actor = admin.id, target = user_id, severity = "high", reason = "tos", category = "users")]
fn sync_fn(admin: &Admin, user_id: u64) -> Result<u64, E> {
    Ok(user_id + admin.id)
}

#[audit(action = "user.delete", actor = "admin", target = id)]
async fn async_fn(id: u64) -> Result<(), E> {
    let _ = id;
    Ok(())
}

#[audit(action = "report.export", actor = "job", policy = "degrade_and_alert")]
fn no_result() -> usize {
    1
}

#[audit(action = "profile.update", actor = "u", changes = (old, new))]
fn with_changes(old: u32, new: u32) -> Result<(), E> {
    let _ = (old, new);
    Ok(())
}

#[observed(event = "orders.refund", tenant)]
#[audit(action = "order.refund", actor = "support", target = order)]
async fn observed_then_audit(tenant: &str, order: u64) -> Result<u64, E> {
    let _ = tenant;
    Ok(order)
}

#[audit(action = "order.void", actor = "support", target = order)]
#[observed(event = "orders.void", tenant)]
async fn audit_then_observed(tenant: &str, order: u64) -> Result<u64, E> {
    let _ = tenant;
    Ok(order)
}

struct Service;

impl Service {
    #[audit(action = "key.rotate", actor = "ops", severity = "critical")]
    fn method(&self) -> Result<(), E> {
        Ok(())
    }

    #[audit(action = "key.revoke", actor = "ops", policy = "degrade_and_alert")]
    async fn async_method(&mut self) {}
}

#[async_trait::async_trait]
trait Store {
    async fn purge(&self, id: u64) -> Result<(), E>;
}

#[async_trait::async_trait]
impl Store for Service {
    #[audit(action = "store.purge", actor = "ops", target = id)]
    async fn purge(&self, id: u64) -> Result<(), E> {
        let _ = id;
        Ok(())
    }
}

fn main() {
    let _ = sync_fn(&Admin { id: 1 }, 2);
    let _ = async_fn(1);
    let _ = no_result();
    let _ = with_changes(1, 2);
    let _ = observed_then_audit("t", 1);
    let _ = audit_then_observed("t", 1);
    let _ = Service.method();
    let mut s = Service;
    let _ = s.async_method();
    let _ = Service.purge(1);
}
