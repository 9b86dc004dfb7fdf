//! Functions that return a future without being `async fn`: the returned future is instrumented.
#![deny(warnings)]

use observa::observed;
use std::future::Future;
use std::pin::Pin;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

async fn work(n: u32) -> Result<u32, std::io::Error> {
    Ok(n)
}

#[observed(err, ret, fields(n))]
fn impl_future(n: u32) -> impl Future<Output = Result<u32, std::io::Error>> + Send {
    work(n)
}

#[observed]
fn impl_future_block(name: &str) -> impl Future<Output = usize> + '_ {
    async move { name.len() }
}

#[observed]
fn impl_future_unpin(n: u32) -> impl Future<Output = Result<u32, std::io::Error>> + Unpin {
    Box::pin(work(n))
}

#[observed(err(client))]
fn spelled_out<'a>(n: &'a u32) -> Pin<Box<dyn Future<Output = Result<u32, std::io::Error>> + Send + 'a>> {
    if *n == 0 {
        return Box::pin(work(0));
    }
    Box::pin(work(*n))
}

#[observed(future, err, ret)]
fn alias(n: u32) -> BoxFuture<'static, Result<u32, std::io::Error>> {
    Box::pin(work(n))
}

#[observed(future)]
fn local_alias<'a>(s: &'a str) -> LocalBoxFuture<'a, usize> {
    Box::pin(async move { s.len() })
}

/// A named future type that is a value of its own: the call is creating it.
#[observed]
fn spawns() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {})
}

/// A generic future returned as is: the call is returning it.
#[observed]
fn passthrough<F: Future<Output = u8>>(f: F) -> F {
    f
}

struct Repo {
    n: u32,
}

impl Repo {
    #[observed(fields(n = self.n))]
    fn load(&self) -> impl Future<Output = Result<u32, std::io::Error>> + '_ {
        work(self.n)
    }

    #[observed(future)]
    fn load_boxed(&self) -> BoxFuture<'_, Result<u32, std::io::Error>> {
        Box::pin(work(self.n))
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let repo = Repo { n: 1 };
    rt.block_on(async {
        let _ = assert_send(impl_future(1)).await;
        let _ = impl_future_block("x").await;
        let _ = impl_future_unpin(1).await;
        let _ = assert_send(spelled_out(&1)).await;
        let _ = assert_send(alias(1)).await;
        let _ = local_alias("x").await;
        let _ = spawns().await;
        let _ = passthrough(async { 1 }).await;
        let _ = repo.load().await;
        let _ = repo.load_boxed().await;
    });
}
