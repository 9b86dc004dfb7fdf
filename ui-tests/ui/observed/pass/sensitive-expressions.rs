//! Every identifier of a recorded expression is judged, in `const` context, under
//! `#![no_implicit_prelude]` and `#![deny(warnings)]`: method calls, macro calls with inline
//! format arguments, and `ret` of a fn whose name or returned binding is sensitive.
#![no_implicit_prelude]
#![deny(warnings)]

use ::observa::observed;

#[observed(fields(login = password, p = password.as_str(), s = ::std::format!("{password}"), n = user.len()), ret)]
fn api_token(user: &str, password: ::std::string::String) -> ::std::string::String {
    let refresh_token = ::std::format!("{user}{password}");
    refresh_token
}

#[observed(ret)]
fn get_password() -> ::core::result::Result<u64, ::std::string::String> {
    ::core::result::Result::Ok(1)
}

fn main() {
    let _ = api_token("u", ::std::string::String::new());
    let _ = get_password();
}
