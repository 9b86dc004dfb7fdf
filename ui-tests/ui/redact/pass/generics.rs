//! Generic types: bounds are added per field, only as needed.
use observa::Redact;
use std::fmt;

#[derive(Redact)]
struct Envelope<T, const N: usize> {
    id: u64,
    payload: T,
    bytes: [u8; N],
}

// A sensitive name needs nothing of its type: it is never formatted.
struct Opaque;

#[derive(Redact)]
struct Credentials<S> {
    user: String,
    password: S,
}

#[derive(Redact)]
struct Borrowed<'a, T: ?Sized + 'a, E>
where
    E: Clone,
{
    #[redact(email)]
    email: &'a str,
    #[redact(len)]
    items: &'a [E],
    #[redact]
    value: &'a T,
}

#[derive(Redact)]
enum Either<L, R> {
    Left(L),
    Right { #[redact(last4)] card: R },
}

#[derive(Redact)]
struct WithFn<T> {
    #[redact(with = show_len)]
    v: Vec<T>,
}

fn show_len<T>(v: &Vec<T>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{} items", v.len())
}

fn main() {
    let e = Envelope::<_, 2> { id: 1, payload: 5u8, bytes: [0; 2] };
    let _ = format!("{e:?}");
    let c = Credentials { user: "u".to_owned(), password: Opaque };
    let _ = format!("{c:?}");
    let _ = observa::redacted(&c).to_string();
    let b = Borrowed::<str, u8> { email: "a@b.c", items: &[1], value: "x" };
    let _ = format!("{b:?}");
    let x: Either<u8, String> = Either::Right { card: "4242424242424242".into() };
    let _ = format!("{x:?}");
    let w = WithFn { v: vec![1, 2] };
    let _ = format!("{w:?}");
}
