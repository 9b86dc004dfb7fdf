use observa::Secret;

struct SigningKey([u8; 32]);

fn main() {
    let _key = Secret::new(SigningKey([7; 32]));
}
