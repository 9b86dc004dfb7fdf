//! Every fn shape `#[observed]` accepts.
#![deny(warnings)]

use observa::observed;
use std::fmt::Display;

#[observed]
fn plain() {}

#[observed(event = "shapes.sync", fields(a, b = a + 1))]
fn sync_fn(a: u64) -> u64 {
    a
}

#[observed(err, fields(name))]
fn result_fn(name: &str) -> Result<usize, std::io::Error> {
    if name.is_empty() {
        return Err(std::io::Error::other("empty"));
    }
    let n: usize = "3".parse().map_err(std::io::Error::other)?;
    Ok(n + name.len())
}

#[observed(tenant)]
async fn async_fn(tenant: String) -> Result<u8, String> {
    let v: u8 = "7".parse().map_err(|_| "bad".to_owned())?;
    let _ = tenant;
    Ok(v)
}

#[observed(fields(len = items.len()))]
fn generic<T: Clone + Display>(items: &[T]) -> Option<T> {
    items.first().cloned()
}

#[observed]
fn impl_trait_ret(n: u32) -> impl Display {
    n * 2
}

#[observed]
async fn async_impl_trait(n: u32) -> impl Display {
    n + 1
}

#[observed]
fn impl_trait_arg(x: impl Display) -> String {
    x.to_string()
}

#[observed]
fn early_return(n: u32) -> u32 {
    if n > 10 {
        return 10;
    }
    n
}

#[observed]
unsafe fn unsafe_fn(p: *const u8) -> u8 {
    // SAFETY: callers pass a valid pointer.
    unsafe { *p }
}

#[observed(user, correlation = request_id.as_str(), err(client, Debug))]
fn binds(user: u64, request_id: String) -> Result<(), std::io::Error> {
    let _ = user;
    Ok(())
}

#[observed(metrics = false, level = "debug", target = "custom", started, sample = 0.5)]
fn options() {}

#[observed(metric = "worker_jobs", buckets = [0.01, 0.1, 1])]
fn metric_family() {}

struct Counter {
    n: u64,
}

impl Counter {
    #[observed]
    fn by_ref(&self) -> u64 {
        self.n
    }

    #[observed(fields(n = self.n))]
    fn by_mut(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    #[observed]
    fn by_value(self) -> u64 {
        self.n
    }

    #[observed]
    fn boxed(self: Box<Self>) -> u64 {
        self.n
    }

    #[observed]
    async fn async_by_ref(&self) -> u64 {
        self.n
    }

    #[observed]
    fn generic_method<T: Into<u64>>(&self, t: T) -> u64 {
        self.n + t.into()
    }
}

struct Service;

#[observed(event = "service", err)]
impl Service {
    fn get(&self, id: u64) -> Result<u64, String> {
        Ok(id)
    }

    async fn list(&self) -> Vec<u64> {
        vec![1]
    }

    #[observed(level = "debug", fields(id))]
    fn with_own_args(&self, id: u64) -> u64 {
        id
    }

    #[observed(skip)]
    fn not_instrumented(&self) -> u8 {
        0
    }

    const LIMIT: usize = 3;
}

#[async_trait::async_trait]
trait Store {
    async fn load(&self, id: u64) -> Result<u64, String>;
    async fn save(&self, id: u64) -> Result<(), String>;
}

struct Db;

// `#[observed]` inside an `#[async_trait]` impl: `async_trait` runs first.
#[async_trait::async_trait]
impl Store for Db {
    #[observed(fields(id))]
    async fn load(&self, id: u64) -> Result<u64, String> {
        Ok(id)
    }

    #[observed(tenant = "t")]
    async fn save(&self, id: u64) -> Result<(), String> {
        let _ = id;
        Ok(())
    }
}

struct Db2;

// `#[observed]` on the impl, outside `#[async_trait]`: `observed` runs first.
#[observed]
#[async_trait::async_trait]
impl Store for Db2 {
    async fn load(&self, id: u64) -> Result<u64, String> {
        Ok(id)
    }

    async fn save(&self, _id: u64) -> Result<(), String> {
        Ok(())
    }
}

fn main() {
    plain();
    let _ = sync_fn(1);
    let _ = result_fn("x");
    let _ = async_fn("t".to_owned());
    let _ = generic(&[1u8]);
    let _ = impl_trait_ret(1).to_string();
    let _ = async_impl_trait(1);
    let _ = impl_trait_arg(1);
    let _ = early_return(1);
    let b = 1u8;
    // SAFETY: valid pointer.
    let _ = unsafe { unsafe_fn(&b) };
    let _ = binds(1, "r".to_owned());
    options();
    metric_family();
    let mut c = Counter { n: 1 };
    let _ = c.by_ref();
    let _ = c.by_mut();
    let _ = c.async_by_ref();
    let _ = c.generic_method(1u8);
    let _ = Box::new(Counter { n: 1 }).boxed();
    let _ = c.by_value();
    let s = Service;
    let _ = s.get(1);
    let _ = s.list();
    let _ = s.with_own_args(1);
    let _ = s.not_instrumented();
    let _ = Service::LIMIT;
    let _ = Db.load(1);
    let _ = Db.save(1);
    let _ = Db2.load(1);
    let _ = Db2.save(1);
}
