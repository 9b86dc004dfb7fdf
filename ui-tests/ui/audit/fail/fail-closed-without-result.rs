use observa::audit;

#[audit(action = "report.export", actor = "job", policy = "fail_closed")]
fn f() -> usize {
    1
}

fn main() {}
