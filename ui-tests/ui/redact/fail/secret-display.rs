use observa::Secret;

fn main() {
    let token = Secret::new(String::from("tok_live_8e0f"));
    println!("token = {}", token);
}
