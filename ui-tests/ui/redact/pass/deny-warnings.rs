//! The expansion raises no warning (fields are read below, as real code would).
#![deny(warnings)]

use observa::{Redact, Secret};

#[derive(Redact)]
pub struct Login {
    #[redact(email)]
    pub email: String,
    pub password: String,
    pub api_key: Secret<String>,
    pub remember_me: bool,
}

#[derive(Redact)]
pub enum Credential {
    Password { user: String, password: String },
    ApiKey(#[redact] String),
    Anonymous,
}

#[derive(Redact)]
pub struct Generic<T> {
    pub value: T,
    pub token: T,
}

fn main() {
    let l = Login {
        email: "a@b.c".into(),
        password: "p".into(),
        api_key: Secret::new("k".into()),
        remember_me: false,
    };
    let _ = format!("{l:?}");
    let _ = Credential::Anonymous;
    let _ = Generic { value: 1u8, token: 2u8 };
}
