use observa::audit;
use std::future::Future;
use std::pin::Pin;

type Job = Pin<Box<dyn Future<Output = u32> + Send>>;

#[audit(action = "a.job", actor = "ops", policy = "degrade_and_alert")]
fn job() -> Job {
    Box::pin(async { 1 })
}

fn main() {}
