#[derive(observa::Classify)]
enum E {
    #[classify(client, server)]
    Bad,
}

fn main() {}
