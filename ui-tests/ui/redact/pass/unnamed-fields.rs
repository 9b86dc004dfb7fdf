//! Unnamed fields have no name to judge: without a policy they are masked, never formatted, so
//! their type needs neither `Debug` nor `Record`; `#[redact(public)]` shows one.
#![deny(warnings)]

use observa::Redact;

/// Neither `Debug` nor `Record`.
pub struct Opaque(pub u8);

#[derive(Redact)]
pub struct ApiToken(pub String);

#[derive(Redact)]
pub struct Raw(pub Opaque, #[redact(public)] pub u64);

#[derive(Redact)]
pub enum Auth {
    Bearer(String),
    Custom(Opaque),
    Pair(#[redact(public)] String, #[redact(len)] String),
}

fn main() {
    assert_eq!(format!("{:?}", ApiToken("t".into())), "ApiToken([REDACTED])");
    assert_eq!(format!("{:?}", Raw(Opaque(1), 7)), "Raw([REDACTED], 7)");
    assert_eq!(format!("{:?}", Auth::Bearer("t".into())), "Bearer([REDACTED])");
    assert_eq!(format!("{:?}", Auth::Custom(Opaque(2))), "Custom([REDACTED])");
    assert_eq!(
        format!("{:?}", Auth::Pair("jane".into(), "pw".into())),
        r#"Pair("jane", <redacted len=2>)"#
    );
}
