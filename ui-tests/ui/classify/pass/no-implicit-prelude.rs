//! The expansion uses absolute paths only.
#![no_implicit_prelude]

#[derive(::observa::Classify)]
#[classify(client)]
enum ApiError {
    #[classify(server)]
    Database(u32),
    NotFound { id: u64 },
    Invalid,
}

#[derive(::observa::Classify)]
struct Timeout;

#[derive(::observa::Classify)]
enum Generic<T> {
    #[classify(client)]
    Bad(T),
}

#[derive(::observa::Classify)]
enum Never {}

fn main() {
    use ::observa::Classify as _;
    let _ = ApiError::Invalid.error_class();
    let _ = ApiError::NotFound { id: 1 }.error_type();
    let _ = ApiError::Database(1).error_type();
    let _ = Timeout.error_type();
    let _ = Generic::Bad(1u8).error_type();
}
