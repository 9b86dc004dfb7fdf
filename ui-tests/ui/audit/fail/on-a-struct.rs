use observa::audit;

#[audit(action = "user.suspend", actor = "admin")]
struct S;

fn main() {}
