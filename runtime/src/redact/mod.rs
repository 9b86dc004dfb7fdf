//! Compile-time redaction: `#[derive(Redact)]`, [`Secret<T>`] and the redacted view.
//!
//! A value in a sensitive field cannot reach a log line, a span, an exporter, an audit record or
//! a panic message in plain text: either the compiler refuses (a [`Secret`] has no `Display`, a
//! type that is not redaction-aware cannot be recorded) or the output is masked.
//!
//! # `#[derive(Redact)]`
//!
//! ```
//! use observa::Redact;
//!
//! #[derive(Redact)]
//! struct LoginRequest {
//!     #[redact(email)]
//!     email: String, // "j***@example.com"
//!     password: String, // sensitive name: [REDACTED] with no attribute
//!     #[redact(last4)]
//!     card: String, // "************4242"
//!     #[redact(fingerprint)]
//!     session: String, // keyed HMAC-SHA256, 8 hex chars
//!     #[redact(len)]
//!     note_body: String, // <redacted len=5>
//!     remember_me: bool,
//! }
//!
//! let req = LoginRequest {
//!     email: "jane@example.com".into(),
//!     password: "hunter2".into(),
//!     card: "4242424242424242".into(),
//!     session: "3f1c0e7a".into(),
//!     note_body: "hello".into(),
//!     remember_me: true,
//! };
//! let debug = format!("{req:?}");
//! assert!(debug.starts_with(
//!     r#"LoginRequest { email: "j***@example.com", password: [REDACTED], card: "************4242", session: ""#
//! ));
//! assert!(debug.ends_with(r#"", note_body: <redacted len=5>, remember_me: true }"#));
//! ```
//!
//! It generates:
//! - a redacted `Debug` (`{:?}` and `{:#?}`), written straight into the formatter: no allocation;
//! - [`Record`](crate::Record) and [`RecordObject`](crate::RecordObject), so the value can be
//!   listed in `#[observed(fields(...))]` and in audit records, where it is written as a nested
//!   JSON object (not a Debug string) with every field already redacted;
//! - through [`redacted`], `Display` and `serde::Serialize` of the redacted form.
//!
//! It works on structs with named fields, tuple structs, unit structs, enums with any variant
//! shape, generic types (bounds are added per field, as needed) and nested types: a field whose
//! type derives `Redact` is shown through its own redacted `Debug` and `Record`, and so are
//! `Option`, `Vec`, `Box`, `Arc`, arrays and `String`-keyed maps of such types.
//!
//! A map (`BTreeMap`, `HashMap` with string keys) shows every key, and the value under a
//! sensitive key (`Authorization`, `password`, `x-api-key`, ... by the rule of
//! [`crate::sensitive`]) as [`REDACTED`](crate::REDACTED), at any depth, in `Debug`, in the
//! recorded JSON, in [`redacted`] and in audit `changes`. In the `Debug` of a `Redact` type, a
//! field that holds a map is written from its recorded form (`{"accept": "text/html",
//! "Authorization": [REDACTED]}`; an `Option` of a map loses its `Some(..)`).
//!
//! ## Which fields are shown
//!
//! A field **without** a `#[redact]` attribute is
//! - fully masked when it is unnamed (a tuple struct or tuple variant field: `struct
//!   ApiToken(String)`, `Auth::Bearer(String)`): it has no name to judge. Mark it
//!   `#[redact(public)]` to show it (`struct UserId(#[redact(public)] u64)`), or give it a
//!   partial policy;
//! - fully masked when its name is sensitive (`password`, `api_key`, `authorization`, `cookie`,
//!   `session`, `card`, `cvv`, `ssn`, `private_key`, `credentials`, ...: the list of
//!   [`crate::sensitive`], decided at compile time by [`crate::sensitive::is_sensitive`]);
//! - fully masked when the container says `#[redact(all)]`;
//! - shown otherwise, through its type's `Debug` and [`Record`](crate::Record). Its type must
//!   implement both: primitives, strings, `Secret`s, `Redact` types and collections of them do;
//!   any other type is a compile error that says what to do. So a nested type that was not
//!   written with redaction in mind (a plain `#[derive(Debug)]`) cannot slip through.
//!
//! ## Field policies
//!
//! | attribute | output | applies to |
//! |---|---|---|
//! | `#[redact]` | `[REDACTED]` | any type; the value is never touched |
//! | `#[redact(email)]` | `"j***@example.com"` (first character and a short domain) for an address-shaped value, `[REDACTED]` otherwise | text |
//! | `#[redact(last4)]` | `"************4242"` for a card- or account-shaped value (12+ letters or digits), `[REDACTED]` otherwise | text |
//! | `#[redact(fingerprint)]` | `"1a2b3c4d"`: HMAC-SHA256 under the deployment key, 8 hex chars | text |
//! | `#[redact(len)]` | `<redacted len=532>` (characters of text, items of a collection) | text, collections |
//! | `#[redact(with = path)]` | whatever `path(&value, &mut Formatter)` writes | any type |
//! | `#[redact(public)]` | the value itself | `Debug` + `Record` types |
//!
//! "Text" is any [`AsText`] type: `String`, `&str`, `Cow<str>`, `Box<str>`, `Arc<str>`,
//! `Option` of them (`None` stays `None` / `null`) and [`Secret`] of them.
//!
//! ### `#[redact]`: full mask
//!
//! Writes the constant [`REDACTED`](crate::REDACTED) (`[REDACTED]`), the same for every input,
//! so no length or shape leaks. The field's own `Debug` is never called, so it works for any
//! type and cannot be tricked by a `Debug` that prints more than it should.
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! struct Upload {
//!     #[redact]
//!     body: Vec<u8>,
//!     name: String,
//! }
//! let u = Upload { body: b"%PDF".to_vec(), name: "a.pdf".into() };
//! assert_eq!(format!("{u:?}"), r#"Upload { body: [REDACTED], name: "a.pdf" }"#);
//! ```
//!
//! ### `#[redact(email)]`
//!
//! The first character of the local part, `***`, and the domain, only for a value shaped like
//! an address; anything else is fully masked, so a secret typed into an email field does not
//! show. What it reveals is bounded: one character of the local part (none when the local part
//! is a single character) and a domain of at most [`EMAIL_MAX_DOMAIN_CHARS`] characters. Shown
//! partly only with exactly one `@`, a local part of 1 to 64 characters among
//! `A-Z a-z 0-9 . _ % + -`, and a domain of two or more labels of `A-Z a-z 0-9 -` ending in a
//! letters-only label of 2 to 12 characters. International addresses are fully masked.
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! struct Invite {
//!     #[redact(email)]
//!     to: String,
//!     #[redact(email)]
//!     cc: Option<String>,
//! }
//! let i = Invite { to: "jane@example.com".into(), cc: None };
//! assert_eq!(format!("{i:?}"), r#"Invite { to: "j***@example.com", cc: None }"#);
//! ```
//!
//! ### `#[redact(last4)]`
//!
//! Twelve stars and the last four letters or digits, only for a value shaped like a card number
//! or an IBAN: at most [`LAST4_MAX_CHARS`] characters of `A-Z a-z 0-9`, spaces and `-`, with at
//! least [`LAST4_MIN_CHARS`] letters or digits. Shorter values are fully masked, because their
//! last four would be most of the secret, and so is anything else (a password typed into the
//! field, non-ASCII text). The number of stars is fixed, so the length does not leak.
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! struct Payment {
//!     #[redact(last4)]
//!     card: String,
//!     #[redact(last4)]
//!     pin_hint: String,
//! }
//! let p = Payment { card: "4242 4242 4242 4242".into(), pin_hint: "1234".into() };
//! assert_eq!(format!("{p:?}"), r#"Payment { card: "************4242", pin_hint: [REDACTED] }"#);
//! ```
//!
//! ### `#[redact(fingerprint)]`
//!
//! A keyed pseudonym: the first 8 hex characters of HMAC-SHA256 of the value under the
//! deployment key. Equal values give equal fingerprints, so log lines about the same session or
//! account can be correlated; without the key nobody can check a guess, which a plain hash
//! would allow. The key comes from [`set_fingerprint_key`], else the `OBSERVA_REDACT_KEY`
//! environment variable (at least 16 bytes), else a random key drawn per process (see
//! [`fingerprint`](mod@fingerprint)).
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! struct Event {
//!     #[redact(fingerprint)]
//!     session: String,
//! }
//! let a = format!("{:?}", Event { session: "s-1".into() });
//! let b = format!("{:?}", Event { session: "s-1".into() });
//! assert_eq!(a, b);
//! assert_eq!(a.len(), r#"Event { session: "12345678" }"#.len());
//! assert_eq!(
//!     a,
//!     format!("Event {{ session: \"{}\" }}", observa::redact::fingerprint("s-1"))
//! );
//! ```
//!
//! ### `#[redact(len)]`
//!
//! Only the length: characters for text, items for collections.
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! struct Note {
//!     #[redact(len)]
//!     body: String,
//!     #[redact(len)]
//!     attachments: Vec<String>,
//! }
//! let n = Note { body: "héllo".into(), attachments: vec![] };
//! assert_eq!(
//!     format!("{n:?}"),
//!     "Note { body: <redacted len=5>, attachments: <redacted len=0> }"
//! );
//! ```
//!
//! ### `#[redact(with = path)]`
//!
//! A function `fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result` of your own writes the field, for
//! `Debug` and for the recorded text alike. Deref coercions apply, so a `fn(&str, ...)` serves a
//! `String` field. What it writes is on you: observa writes it as given.
//!
//! ```
//! # use observa::Redact;
//! use std::fmt;
//!
//! fn country_only(phone: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!     let code: String = phone.chars().take_while(|c| *c != ' ').collect();
//!     write!(f, "{code} ***")
//! }
//!
//! #[derive(Redact)]
//! struct Contact {
//!     #[redact(with = country_only)]
//!     phone: String,
//! }
//! let c = Contact { phone: "+44 20 7946 0958".into() };
//! assert_eq!(format!("{c:?}"), "Contact { phone: +44 *** }");
//! ```
//!
//! ### `#[redact(public)]`
//!
//! Shows the field as it is: under `#[redact(all)]`, and for a field whose name looks sensitive
//! but is not (`token_count`).
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! struct Usage {
//!     #[redact(public)]
//!     token_count: u64,
//! }
//! assert_eq!(format!("{:?}", Usage { token_count: 3 }), "Usage { token_count: 3 }");
//! ```
//!
//! ## Container policy: `#[redact(all)]`
//!
//! Deny by default: every field is fully masked unless it is marked `#[redact(public)]` (or has a
//! partial policy). This is the production allowlist of the seeds' `SAFE_FIELDS`, applied to a
//! type: a field added later is hidden until someone decides it is safe.
//!
//! ```
//! # use observa::Redact;
//! #[derive(Redact)]
//! #[redact(all)]
//! struct Profile {
//!     #[redact(public)]
//!     user_id: u64,
//!     display_name: String,
//!     #[redact(email)]
//!     email: String,
//! }
//! let p = Profile { user_id: 7, display_name: "Jane".into(), email: "jane@example.com".into() };
//! assert_eq!(
//!     format!("{p:?}"),
//!     r#"Profile { user_id: 7, display_name: [REDACTED], email: "j***@example.com" }"#
//! );
//! ```
//!
//! ## Enums, tuple structs, generics, nesting
//!
//! ```
//! # use observa::{Redact, Secret};
//! #[derive(Redact)]
//! enum Credential {
//!     Password { user: String, password: String },
//!     ApiKey(#[redact] String),
//!     Anonymous,
//! }
//!
//! #[derive(Redact)]
//! struct Envelope<T> {
//!     id: u64,
//!     payload: T,
//!     previous: Vec<Credential>,
//!     upstream: Secret<String>, // a `Secret` masks itself, whatever the field name
//! }
//!
//! let e = Envelope {
//!     id: 1,
//!     payload: Credential::ApiKey("ak_live_123".into()),
//!     previous: vec![Credential::Anonymous],
//!     upstream: Secret::new("t0k".into()),
//! };
//! assert_eq!(
//!     format!("{e:?}"),
//!     "Envelope { id: 1, payload: ApiKey([REDACTED]), previous: [Anonymous], upstream: Secret([REDACTED]) }"
//! );
//! assert_eq!(
//!     observa::redacted(&e).to_string(),
//!     r#"{"id":1,"payload":{"ApiKey":"[REDACTED]"},"previous":["Anonymous"],"upstream":"[REDACTED]"}"#
//! );
//! ```
//!
//! Recorded (JSON) shapes: a struct with named fields is an object; a tuple struct is an array,
//! except a newtype whose field is shown or fully masked, which is its field; a unit struct is
//! its name; an enum is its variant name when the variant is a unit, else an object with one key
//! (the variant name) whose value is the payload (like serde's default).
//!
//! ## What the derive refuses
//!
//! Unions, unknown policies, two policies on one field, a policy repeated, a field policy on the
//! container or `all` on a field, `#[redact]` on an enum variant, a partial policy on a field that
//! is not text, a shown field whose type cannot be recorded: each is one compile error, on the
//! offending token, that names the valid options.
//!
//! # The second line of defence
//!
//! Code that bypasses observa (`tracing::info!(password = %p)` in a dependency) is caught by the
//! log pipeline ([`crate::log::foreign_key_mask`]): values under sensitive keys are masked
//! ([`mask_by_key`], the same list as above), and in production keys outside the allowlist
//! ([`SAFE_FIELDS`]) are not written as given. [`key_action`] gives the same decision with the
//! seeds' three outcomes (keep, [`REDACTED`](crate::REDACTED), [`FILTERED`]).
//!
//! # Limits
//!
//! - Map keys are written as they are (the value under a sensitive key is masked, other values
//!   are recorded through their type): key maps by ids, not by secrets. The standard `Debug` of
//!   a map outside a `Redact` type (`format!("{map:?}")`) is the standard library's and shows
//!   everything; record it or wrap it in a `Redact` type.
//! - `#[redact(email)]` shows the domain of an address-shaped value: a secret shaped like
//!   `x@secret.com` shows `secret.com`.
//! - `#[redact(with = path)]` and `#[redact(public)]` show what you tell them to show.
//! - A `Secret` stops accidental formatting, not deliberate `expose()`.

pub mod fingerprint;
mod keys;
mod mask;
#[doc(hidden)]
pub mod private;
mod secret;
mod view;

pub use fingerprint::{
    FingerprintKey, FingerprintKeyError, KeySource, fingerprint, fingerprint_key_source,
    init_fingerprint_key, set_fingerprint_key,
};
pub use keys::{FILTERED, KeyAction, SAFE_FIELDS, is_allowed, key_action, mask_by_key};
pub use mask::{AsText, EMAIL_MAX_DOMAIN_CHARS, LAST4_MAX_CHARS, LAST4_MIN_CHARS, RedactLen};
pub use secret::{Secret, Wipe, serialize_exposed};
pub use view::{Redacted, redacted};

/// Re-exported so that a `T` of [`Secret<T>`] can implement `Zeroize` without a direct
/// dependency.
pub use zeroize;
