//! `slow_ms` on sync and async fns, with other arguments, and inherited from an `impl` block
//! (a method may set its own).
#![deny(warnings)]

use observa::observed;

#[observed(slow_ms = 250)]
fn query() -> u32 {
    1
}

#[observed(event = "db.scan", slow_ms = 1, sample = 0.5, level = "debug")]
async fn scan(rows: u64) -> Result<u64, std::io::Error> {
    Ok(rows)
}

struct Repo;

#[observed(slow_ms = 100)]
impl Repo {
    fn find(&self) -> u8 {
        1
    }

    #[observed(slow_ms = 5_000)]
    fn export(&self) -> u8 {
        2
    }
}

fn main() {
    let _ = query();
    let _ = scan(3);
    let _ = (Repo.find(), Repo.export());
}
