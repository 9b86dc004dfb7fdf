use observa::audit;

#[audit(action = "report.export", actor = "job")]
fn f() -> usize {
    1
}

fn main() {}
