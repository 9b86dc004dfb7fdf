use observa::audit;

#[audit(future, action = "a.count", actor = "ops", policy = "degrade_and_alert")]
fn count(n: u32) -> std::future::Ready<u32> {
    std::future::ready(n)
}

fn main() {}
