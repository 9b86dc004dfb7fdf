#![deny(warnings)]

use observa::{audit, observed};
use std::future::Future;
use std::pin::Pin;

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

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

#[audit(action = "a.impl", actor = "ops", target = id)]
fn impl_future(id: u64) -> impl Future<Output = Result<u64, E>> + Send {
    async move { Ok(id) }
}

#[audit(action = "a.unpin", actor = "ops", target = id)]
fn unpin_future(id: u64) -> impl Future<Output = Result<u64, E>> + Unpin {
    std::future::ready(Ok(id))
}

#[audit(action = "a.pinbox", actor = "ops", target = name)]
fn pin_box<'a>(name: &'a str) -> Pin<Box<dyn Future<Output = Result<usize, E>> + Send + 'a>> {
    Box::pin(async move { Ok(name.len()) })
}

#[audit(future, action = "a.alias", actor = "ops", target = name)]
fn alias<'a>(name: &'a str) -> BoxFuture<'a, Result<usize, E>> {
    Box::pin(async move { Ok(name.len()) })
}

#[audit(future, action = "a.local", actor = "ops", policy = "degrade_and_alert")]
fn local_alias() -> LocalBoxFuture<'static, u32> {
    Box::pin(async { 1 })
}

#[audit(action = "a.degrade", actor = "ops", policy = "degrade_and_alert")]
fn degrade() -> impl Future<Output = u32> {
    async { 2 }
}

#[observed(future, event = "a.obs_above")]
#[audit(future, action = "a.obs_above", actor = "ops")]
fn observed_above() -> BoxFuture<'static, Result<u8, E>> {
    Box::pin(async { Ok(1) })
}

#[audit(action = "a.obs_below", actor = "ops")]
#[observed(event = "a.obs_below")]
fn observed_below() -> impl Future<Output = Result<u8, E>> {
    async { Ok(1) }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let _ = impl_future(1).await;
        let _ = unpin_future(1).await;
        let _ = pin_box("x").await;
        let _ = alias("x").await;
        let _ = local_alias().await;
        let _ = degrade().await;
        let _ = observed_above().await;
        let _ = observed_below().await;
    });
}
