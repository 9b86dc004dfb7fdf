use observa::observed;

struct Repo;

#[observed(future)]
impl Repo {
    fn load(&self) -> u32 {
        1
    }
}

fn main() {}
