use observa::audit;

#[audit(future, action = "a.count", actor = "ops", policy = "degrade_and_alert")]
async fn count() -> u32 {
    1
}

fn main() {}
