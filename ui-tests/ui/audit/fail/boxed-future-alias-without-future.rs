use observa::audit;
use std::future::Future;
use std::pin::Pin;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

#[audit(action = "a.alias", actor = "ops", target = id)]
fn fetch(id: u32) -> BoxFuture<'static, Result<u32, E>> {
    Box::pin(async move { Ok(id) })
}

fn main() {}
