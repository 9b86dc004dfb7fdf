//! What a `Secret` does allow.
use observa::redact::zeroize::Zeroize;
use observa::{Record, Secret};

#[derive(serde::Deserialize)]
struct Config {
    database_password: Secret<String>,
}

#[derive(serde::Serialize)]
struct Upstream {
    #[serde(serialize_with = "observa::redact::serialize_exposed")]
    token: Secret<String>,
}

struct SigningKey([u8; 32]);

impl Zeroize for SigningKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

struct NoWipe(u8);

fn main() {
    let s = Secret::new(String::from("pw"));
    let _: &String = s.expose();
    let _ = format!("{s:?}");
    let _ = s == Secret::new(String::from("pw"));
    let _ = s.record();
    let _ = observa::redacted(&s).to_string();
    let _ = s.clone();
    let _: Secret<Vec<u8>> = vec![1u8].into();
    let _ = Secret::new(SigningKey([0; 32]));
    let _ = Secret::without_zeroize(NoWipe(1));
    let _ = |c: Config| c.database_password;
    let _ = Upstream { token: Secret::new("t".into()) };
}
