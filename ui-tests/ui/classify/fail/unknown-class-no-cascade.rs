//! A mistake in `#[classify]` is the one error: the type still implements `Classify`, so its
//! uses do not add "`Classify` is not implemented".
use observa::Classify;

#[derive(Debug, Classify)]
enum ApiError {
    #[classify(teapot)]
    NotFound,
}

fn takes<E: observa::Classify>(_: E) {}

fn main() {
    takes(ApiError::NotFound);
}
