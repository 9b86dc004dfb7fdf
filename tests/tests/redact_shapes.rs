//! `#[derive(Redact)]` on every shape: the exact `Debug`, `{:#?}` and recorded JSON.

#![allow(dead_code)] // fields exist to be formatted, not read

use observa::{Redact, Secret};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

fn json<T: observa::Record + ?Sized>(v: &T) -> String {
    observa::log::json::to_json_string(v.record())
}

#[derive(Redact)]
struct Login {
    #[redact(email)]
    email: String,
    password: String,
    #[redact(last4)]
    card: String,
    #[redact(len)]
    note_body: String,
    remember_me: bool,
}

fn login() -> Login {
    Login {
        email: "jane@example.com".into(),
        password: "hunter2".into(),
        card: "4242424242424242".into(),
        note_body: "hello".into(),
        remember_me: true,
    }
}

#[test]
fn named_struct() {
    let l = login();
    assert_eq!(
        format!("{l:?}"),
        r#"Login { email: "j***@example.com", password: [REDACTED], card: "************4242", note_body: <redacted len=5>, remember_me: true }"#
    );
    assert_eq!(
        format!("{l:#?}"),
        "Login {\n    email: \"j***@example.com\",\n    password: [REDACTED],\n    card: \"************4242\",\n    note_body: <redacted len=5>,\n    remember_me: true,\n}"
    );
    assert_eq!(
        json(&l),
        r#"{"email":"j***@example.com","password":"[REDACTED]","card":"************4242","note_body":"<redacted len=5>","remember_me":true}"#
    );
}

#[derive(Redact)]
struct Token(#[redact] String);

#[derive(Redact)]
struct UserId(#[redact(public)] u64);

#[derive(Redact)]
struct Pair(#[redact(email)] String, #[redact(public)] u32);

#[derive(Redact)]
struct Marker;

#[derive(Redact)]
struct Empty {}

#[test]
fn tuple_and_unit_structs() {
    assert_eq!(format!("{:?}", Token("t0k3n".into())), "Token([REDACTED])");
    assert_eq!(json(&Token("t0k3n".into())), r#""[REDACTED]""#);
    assert_eq!(format!("{:?}", UserId(7)), "UserId(7)");
    assert_eq!(json(&UserId(7)), "7");
    let p = Pair("jane@example.com".into(), 3);
    assert_eq!(format!("{p:?}"), r#"Pair("j***@example.com", 3)"#);
    assert_eq!(json(&p), r#"["j***@example.com",3]"#);
    assert_eq!(format!("{:?}", Marker), "Marker");
    assert_eq!(json(&Marker), r#""Marker""#);
    assert_eq!(format!("{:?}", Empty {}), "Empty");
    assert_eq!(json(&Empty {}), "{}");
}

// Issue 8, item 4: an unnamed field has no name to judge, so without a policy it is masked.

#[derive(Redact)]
struct ApiToken(String);

#[derive(Redact)]
struct RawId(u64);

#[derive(Redact)]
enum Auth {
    Bearer(String),
    Basic(#[redact(public)] String, String),
    Keyed { key_id: u64, value: String },
}

#[test]
fn unnamed_fields_are_masked_unless_marked() {
    let t = ApiToken("sk_live_123".into());
    assert_eq!(format!("{t:?}"), "ApiToken([REDACTED])");
    assert_eq!(json(&t), r#""[REDACTED]""#);
    assert_eq!(observa::redacted(&t).to_string(), "[REDACTED]");
    assert_eq!(format!("{:?}", RawId(7)), "RawId([REDACTED])");
    let b = Auth::Bearer("eyJhbGciOi".into());
    assert_eq!(format!("{b:?}"), "Bearer([REDACTED])");
    assert_eq!(json(&b), r#"{"Bearer":"[REDACTED]"}"#);
    let b = Auth::Basic("jane".into(), "hunter2".into());
    assert_eq!(format!("{b:?}"), r#"Basic("jane", [REDACTED])"#);
    assert_eq!(json(&b), r#"{"Basic":["jane","[REDACTED]"]}"#);
    // Named fields are still judged by name.
    let k = Auth::Keyed {
        key_id: 3,
        value: "v".into(),
    };
    assert_eq!(
        format!("{k:?}"),
        r#"Keyed { key_id: [REDACTED], value: "v" }"#
    );
}

#[derive(Redact)]
enum Credential {
    Password {
        user: String,
        password: String,
    },
    ApiKey(#[redact] String),
    Pair(#[redact(last4)] String, #[redact(public)] u8),
    Anonymous,
    #[allow(dead_code)]
    Nested(#[redact(public)] Box<Credential>),
}

#[test]
fn enums() {
    let c = Credential::Password {
        user: "jane".into(),
        password: "hunter2".into(),
    };
    assert_eq!(
        format!("{c:?}"),
        r#"Password { user: "jane", password: [REDACTED] }"#
    );
    assert_eq!(
        json(&c),
        r#"{"Password":{"user":"jane","password":"[REDACTED]"}}"#
    );
    let k = Credential::ApiKey("ak_live".into());
    assert_eq!(format!("{k:?}"), "ApiKey([REDACTED])");
    assert_eq!(json(&k), r#"{"ApiKey":"[REDACTED]"}"#);
    let p = Credential::Pair("4111111111111111".into(), 2);
    assert_eq!(format!("{p:?}"), r#"Pair("************1111", 2)"#);
    assert_eq!(json(&p), r#"{"Pair":["************1111",2]}"#);
    assert_eq!(format!("{:?}", Credential::Anonymous), "Anonymous");
    assert_eq!(json(&Credential::Anonymous), r#""Anonymous""#);
    let n = Credential::Nested(Box::new(Credential::ApiKey("x".into())));
    assert_eq!(format!("{n:?}"), "Nested(ApiKey([REDACTED]))");
    assert_eq!(json(&n), r#"{"Nested":{"ApiKey":"[REDACTED]"}}"#);
}

#[derive(Redact)]
enum Never {}

#[derive(Redact)]
struct Envelope<T, const N: usize> {
    id: u64,
    payload: T,
    secret_payload: T,
    history: [u8; N],
    _marker: PhantomData<fn() -> T>,
}

#[derive(Redact)]
struct Lifetimes<'a, S: AsRef<str>> {
    name: &'a str,
    #[redact(email)]
    email: S,
    #[redact(len)]
    items: &'a [u32],
}

#[test]
fn generics() {
    let e = Envelope::<_, 2> {
        id: 1,
        payload: login(),
        secret_payload: login(),
        history: [1, 2],
        _marker: PhantomData,
    };
    let d = format!("{e:?}");
    assert!(
        d.starts_with(
            r#"Envelope { id: 1, payload: Login { email: "j***@example.com", password: [REDACTED]"#
        ),
        "{d}"
    );
    assert!(d.contains("secret_payload: [REDACTED]"), "{d}");
    assert!(!d.contains("hunter2"));
    assert!(json(&e).contains(r#""secret_payload":"[REDACTED]","history":[1,2]}"#));
    let l = Lifetimes {
        name: "n",
        email: String::from("ann@b.co"),
        items: &[1, 2, 3],
    };
    assert_eq!(
        format!("{l:?}"),
        r#"Lifetimes { name: "n", email: "a***@b.co", items: <redacted len=3> }"#
    );
    let _ = |n: &Never| format!("{n:?}");
}

#[derive(Redact)]
struct Collections {
    logins: Vec<Login>,
    maybe: Option<Login>,
    boxed: Box<Login>,
    by_name: BTreeMap<String, Login>,
    api_key: Secret<String>,
    #[redact(last4)]
    card: Secret<String>,
    #[redact(email)]
    backup_email: Option<String>,
}

#[test]
fn collections_and_secrets() {
    let c = Collections {
        logins: vec![login()],
        maybe: None,
        boxed: Box::new(login()),
        by_name: BTreeMap::from([("jane".to_owned(), login())]),
        api_key: Secret::new("ak_live_123".into()),
        card: Secret::new("5555444433331111".into()),
        backup_email: None,
    };
    let d = format!("{c:?}");
    assert!(!d.contains("hunter2"), "{d}");
    assert!(d.contains("maybe: None"), "{d}");
    assert!(
        d.contains(r#"api_key: [REDACTED], card: "************1111", backup_email: None"#),
        "{d}"
    );
    let j = json(&c);
    assert!(j.contains(r#""maybe":null"#), "{j}");
    assert!(
        j.contains(r#""by_name":{"jane":{"email":"j***@example.com""#),
        "{j}"
    );
    assert!(
        j.ends_with(r#""api_key":"[REDACTED]","card":"************1111","backup_email":null}"#),
        "{j}"
    );
}

fn country_only(phone: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let code: String = phone.chars().take_while(|c| *c != ' ').collect();
    write!(f, "{code} ***")
}

#[derive(Redact)]
#[redact(all)]
struct Profile {
    #[redact(public)]
    user_id: u64,
    display_name: String,
    #[redact(with = country_only)]
    phone: String,
    #[redact(fingerprint)]
    session: String,
    #[redact(public)]
    token_count: u32,
}

#[test]
fn deny_by_default() {
    let p = Profile {
        user_id: 7,
        display_name: "Jane".into(),
        phone: "+44 20 7946 0958".into(),
        session: "sess-1".into(),
        token_count: 3,
    };
    let fp = observa::redact::fingerprint("sess-1").to_string();
    assert_eq!(
        format!("{p:?}"),
        format!(
            r#"Profile {{ user_id: 7, display_name: [REDACTED], phone: +44 ***, session: "{fp}", token_count: 3 }}"#
        )
    );
    assert_eq!(
        json(&p),
        format!(
            r#"{{"user_id":7,"display_name":"[REDACTED]","phone":"+44 ***","session":"{fp}","token_count":3}}"#
        )
    );
}

#[test]
fn redacted_view() {
    let l = login();
    let v = observa::redacted(&l);
    assert_eq!(v.to_string(), json(&l));
    assert_eq!(serde_json::to_string(&v).unwrap(), json(&l));
    let s = Secret::new(String::from("pw"));
    assert_eq!(observa::redacted(&s).to_string(), "[REDACTED]");
    assert_eq!(
        serde_json::to_string(&observa::redacted(&s)).unwrap(),
        r#""[REDACTED]""#
    );
}

// Issue 8, item 5: maps show values by key.

#[derive(Redact)]
struct Outbound {
    url: String,
    headers: std::collections::BTreeMap<String, String>,
    #[redact(public)]
    query: Vec<std::collections::BTreeMap<&'static str, String>>,
    counts: std::collections::BTreeMap<String, u32>,
}

#[test]
fn map_values_under_sensitive_keys_are_masked() {
    let o = Outbound {
        url: "/v1/charges".into(),
        headers: [
            ("accept".to_owned(), "application/json".to_owned()),
            ("Authorization".to_owned(), "Bearer sk_live_1".to_owned()),
        ]
        .into(),
        query: vec![[("api_key", "k1".to_owned()), ("page", "2".to_owned())].into()],
        counts: [("tokens".to_owned(), 3), ("rows".to_owned(), 4)].into(),
    };
    assert_eq!(
        format!("{o:?}"),
        r#"Outbound { url: "/v1/charges", headers: {"Authorization": [REDACTED], "accept": "application/json"}, query: [{"api_key": [REDACTED], "page": "2"}], counts: {"rows": 4, "tokens": [REDACTED]} }"#
    );
    assert_eq!(
        json(&o),
        r#"{"url":"/v1/charges","headers":{"Authorization":"[REDACTED]","accept":"application/json"},"query":[{"api_key":"[REDACTED]","page":"2"}],"counts":{"rows":4,"tokens":"[REDACTED]"}}"#
    );
    // `{:#?}` keeps the standard layout.
    assert!(format!("{o:#?}").contains("headers: {\n        \"Authorization\": [REDACTED],\n"));
}
