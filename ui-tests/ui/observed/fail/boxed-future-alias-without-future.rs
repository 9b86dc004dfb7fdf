use observa::observed;
use std::future::Future;
use std::pin::Pin;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[observed]
fn fetch(id: u32) -> BoxFuture<'static, Result<u32, String>> {
    Box::pin(async move { Ok(id) })
}

fn main() {}
