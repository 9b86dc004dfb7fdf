use observa::observed;

#[observed]
struct Job;

fn main() {}
