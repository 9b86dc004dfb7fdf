use observa::observed;

#[observed(future)]
fn fetch(id: u32) -> std::future::Ready<u32> {
    std::future::ready(id)
}

fn main() {}
