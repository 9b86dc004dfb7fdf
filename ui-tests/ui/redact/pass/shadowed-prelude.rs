//! Local items named like the prelude and like std traits do not confuse the expansion.
#![allow(dead_code, non_camel_case_types)]

struct Option;
struct Some;
struct None;
struct Result;
struct Ok;
struct Err;
struct Box;
struct Vec;
struct String;
struct Debug;
struct Formatter;
struct str;
trait Fn {}
trait FnMut {}
mod core {}
mod std {}
mod fmt {}

#[derive(observa::Redact)]
struct Login {
    #[redact(email)]
    email: ::std::string::String,
    password: ::std::string::String,
    tags: ::std::vec::Vec<u32>,
    maybe: ::std::option::Option<u32>,
}

#[derive(observa::Redact)]
enum Shape {
    A { password: ::std::string::String, n: u8 },
    B(u8, u8),
    C,
}

fn main() {
    let l = Login {
        email: ::std::string::String::new(),
        password: ::std::string::String::new(),
        tags: ::std::vec::Vec::new(),
        maybe: ::std::option::Option::None,
    };
    let _ = ::std::format!("{:?}", l);
    let _ = ::std::format!("{:?}", Shape::C);
}
