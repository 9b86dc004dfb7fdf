//! Every shape the derive accepts.
use observa::{Redact, Secret};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

#[derive(Redact)]
struct Named {
    #[redact(email)]
    email: String,
    password: String,
    #[redact(last4)]
    card: String,
    #[redact(fingerprint)]
    session: String,
    #[redact(len)]
    note_body: String,
    #[redact]
    internal: Vec<u8>,
    #[redact(with = mask)]
    phone: String,
    #[redact(public)]
    token_count: u32,
    remember_me: bool,
}

fn mask(_: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("***")
}

#[derive(Redact)]
struct Tuple(#[redact] String, u32, #[redact(email)] String);

#[derive(Redact)]
struct Newtype(u64);

#[derive(Redact)]
struct Unit;

#[derive(Redact)]
struct EmptyNamed {}

#[derive(Redact)]
struct EmptyTuple();

#[derive(Redact)]
enum Every {
    Unit,
    Named { user: String, password: String },
    Tuple(#[redact] String, u8),
    Newtype(Named),
    Empty {},
    EmptyTuple(),
}

#[derive(Redact)]
enum Never {}

#[derive(Redact)]
#[redact(all)]
enum AllVariants {
    A { #[redact(public)] id: u64, name: String },
    B(String),
}

#[derive(Redact)]
struct Nested {
    one: Named,
    many: Vec<Named>,
    maybe: Option<Named>,
    boxed: Box<Named>,
    shared: Arc<Named>,
    by_key: BTreeMap<String, Named>,
    by_hash: HashMap<String, Every>,
    array: [Newtype; 2],
    secret: Secret<String>,
    #[redact(last4)]
    card: Secret<String>,
    #[redact(email)]
    cc: Option<String>,
    _marker: PhantomData<Named>,
}

#[derive(Redact)]
struct RawNames {
    r#type: String,
    r#password: String,
}

fn assert_recordable<T: observa::Record + observa::RecordObject + fmt::Debug>() {}

fn main() {
    assert_recordable::<Named>();
    assert_recordable::<Tuple>();
    assert_recordable::<Newtype>();
    assert_recordable::<Unit>();
    assert_recordable::<EmptyNamed>();
    assert_recordable::<EmptyTuple>();
    assert_recordable::<Every>();
    assert_recordable::<Never>();
    assert_recordable::<AllVariants>();
    assert_recordable::<Nested>();
    assert_recordable::<RawNames>();
    let _ = observa::redacted(&Unit).to_string();
}
