#[derive(observa::Classify)]
enum E {
    #[classify(user)]
    Bad,
}

fn main() {}
