//! Generated code does not depend on prelude names the user may shadow.
#![allow(dead_code)]

use observa::Classify;

struct Option;
struct Result;
struct Some;
struct None;
struct String;
trait Sized {}
trait Clone {}

mod core {}
mod std {}

#[derive(Classify)]
#[classify(client)]
enum ApiError {
    #[classify(server)]
    Database(u32),
    NotFound { id: u64 },
    Invalid,
}

#[derive(Classify)]
struct Timeout;

#[derive(Classify)]
enum Generic<T> {
    #[classify(client)]
    Bad(T),
}

#[derive(Classify)]
enum Never {}

fn main() {
    use ::observa::Classify as _;
    let _ = ApiError::Invalid.error_class();
    let _ = Timeout.error_type();
    let _ = Generic::Bad(1u8).error_type();
}
