use observa::observed;

#[observed(future)]
async fn fetch(id: u32) -> u32 {
    id
}

fn main() {}
