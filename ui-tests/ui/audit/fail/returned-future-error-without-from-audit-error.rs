use observa::audit;
use std::future::Future;

#[derive(Debug)]
pub struct E;
impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("e")
    }
}

#[audit(action = "a.fetch", actor = "ops")]
fn fetch() -> impl Future<Output = Result<u32, E>> {
    async { Ok(1) }
}

fn main() {}
