//! The expansion uses absolute paths only.
#![no_implicit_prelude]

#[derive(::observa::Redact)]
struct Login {
    #[redact(email)]
    email: ::std::string::String,
    password: ::std::string::String,
    #[redact(last4)]
    card: ::std::option::Option<::std::string::String>,
    #[redact(len)]
    items: ::std::vec::Vec<u8>,
    #[redact(fingerprint)]
    session: ::std::string::String,
    #[redact(with = mask)]
    phone: ::std::string::String,
    remember_me: bool,
}

fn mask(_: &str, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
    f.write_str("***")
}

#[derive(::observa::Redact)]
#[redact(all)]
enum Event<T> {
    Login { #[redact(public)] user_id: u64, detail: T },
    Logout(#[redact(public)] u64),
    Tick,
}

fn main() {
    let e: Event<u8> = Event::Tick;
    let _ = ::std::format!("{:?}", e);
}
