//! Leak tests: random canaries in sensitive fields never reach any output.
//!
//! The harness: [`outputs_of`] lists every rendering of a value that a user or a sink can
//! produce (Debug, `{:#?}`, the redacted view's `Display` and `Serialize`, the recorded JSON, the
//! span-attribute form, panic messages, `unwrap` of an `Err`, error chains). [`assert_no_leak`]
//! checks each against a canary: not the canary, not any 8-character piece of it (any 4-character
//! piece for canaries drawn outside ASCII), and none of its JSON-escaped, `\u`-escaped, Debug,
//! base64, hex or URL-encoded forms. A further sink (the log pipeline's JSON lines) is one more
//! entry in `outputs_of`.

#![allow(dead_code)] // fields exist to be formatted, not read

mod redact_support;

use observa::log::json::{DisplayValue, to_json_string};
use observa::{Record, Redact, Secret, redacted};
use proptest::prelude::*;
use redact_support::{assert_no_leak, canary, hex, panic_report, windows};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic;

// ---------------------------------------------------------------------------------------------
// Types under test: nested structs, enums, generics, collections, Secrets.

#[derive(Redact, Clone)]
struct Inner {
    id: u32,
    password: String,
    #[redact]
    pin_code: String,
    api_key: Secret<String>,
    #[redact(fingerprint)]
    session: String,
    #[redact(len)]
    note_body: String,
}

#[derive(Redact, Clone)]
enum Credential {
    Password { user_id: u32, password: String },
    Token(#[redact] String),
    Key(Secret<String>),
    Nested(Box<Inner>),
    Anonymous,
}

#[derive(Redact, Clone)]
struct Outer<T> {
    request_id: u64,
    inner: Inner,
    credentials: Vec<Credential>,
    maybe: Option<Box<Inner>>,
    by_user: BTreeMap<String, Credential>,
    payload: T,
    access_token: T,
    secrets: Vec<Secret<String>>,
}

#[derive(Redact, Clone)]
#[redact(all)]
struct Denied {
    #[redact(public)]
    id: u64,
    display_name: String,
    address: Vec<String>,
}

#[derive(Redact, Clone)]
struct Tuple(u8, #[redact] String, Secret<String>);

// Issue 8: unnamed fields (item 4), maps under sensitive keys (item 5), partial masks (item 7).

/// A newtype and tuple variants without a policy: masked by default.
#[derive(Redact, Clone)]
struct ApiToken(String);

#[derive(Redact, Clone)]
enum Auth {
    Bearer(String),
    Basic(String, String),
    Nested(Box<Auth>),
}

/// Maps whose keys decide: values under sensitive keys are masked, nested maps too.
#[derive(Redact, Clone)]
struct Request {
    method: String,
    headers: BTreeMap<String, String>,
    params: HashMap<String, String>,
    nested: BTreeMap<String, BTreeMap<String, String>>,
    batches: Vec<BTreeMap<String, String>>,
    maybe: Option<HashMap<String, String>>,
    #[redact(public)]
    shown: BTreeMap<String, String>,
}

#[derive(Redact, Clone)]
struct Contact {
    #[redact(email)]
    email: String,
}

#[derive(Redact, Clone)]
struct Payment {
    #[redact(last4)]
    card: String,
}

fn headers(c: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("accept".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {c}")),
        ("x-api-key".to_owned(), c.to_owned()),
        ("Cookie".to_owned(), c.to_owned()),
    ])
}

fn request(c: &str) -> Request {
    Request {
        method: "POST".into(),
        headers: headers(c),
        params: HashMap::from([
            ("password".to_owned(), c.to_owned()),
            ("user".to_owned(), "jane".to_owned()),
            ("refreshToken".to_owned(), c.to_owned()),
        ]),
        nested: BTreeMap::from([
            ("upstream".to_owned(), headers(c)),
            (
                "client_secret".to_owned(),
                BTreeMap::from([("v".to_owned(), c.to_owned())]),
            ),
        ]),
        batches: vec![headers(c), headers(c)],
        maybe: Some(HashMap::from([("session_id".to_owned(), c.to_owned())])),
        shown: headers(c),
    }
}

/// The sinks of a value that is not a `Redact` type (a bare map): everything but `Debug`, which
/// is the standard library's.
fn recorded_outputs_of<T: Record>(v: &T) -> Vec<(&'static str, String)> {
    vec![
        ("redacted_display", redacted(v).to_string()),
        (
            "redacted_serialize",
            serde_json::to_string(&redacted(v)).expect("serialize"),
        ),
        ("record_json", to_json_string(v.record())),
        ("span_attribute", DisplayValue(v.record()).to_string()),
    ]
}

/// Every case added for issue 8, by name (the census test counts leaks per case).
fn issue8_cases(c: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let mut cases = vec![
        ("newtype", outputs_of(&ApiToken(c.to_owned()))),
        ("tuple_variant", outputs_of(&Auth::Bearer(c.to_owned()))),
        (
            "tuple_variant_pair",
            outputs_of(&Auth::Basic(c.to_owned(), c.to_owned())),
        ),
        (
            "tuple_variant_nested",
            outputs_of(&Auth::Nested(Box::new(Auth::Bearer(c.to_owned())))),
        ),
        ("map_fields", outputs_of(&request(c))),
        ("bare_btreemap", recorded_outputs_of(&headers(c))),
        (
            "bare_hashmap",
            recorded_outputs_of(&HashMap::from([("api_key".to_owned(), c.to_owned())])),
        ),
        (
            "bare_nested_map",
            recorded_outputs_of(&BTreeMap::from([("upstream".to_owned(), headers(c))])),
        ),
        (
            "last4_typed_secret",
            outputs_of(&Payment { card: c.to_owned() }),
        ),
        (
            "email_long_domain",
            outputs_of(&Contact {
                email: format!("me@{c}.{c}.{c}.com"),
            }),
        ),
        (
            "email_secret_after_at",
            outputs_of(&Contact {
                email: format!("me@{c}{c}{c}"),
            }),
        ),
    ];
    if !c.contains('@') {
        cases.push((
            "email_typed_secret",
            outputs_of(&Contact {
                email: c.to_owned(),
            }),
        ));
    }
    cases
}

fn inner(c: &str) -> Inner {
    Inner {
        id: 7,
        password: c.to_owned(),
        pin_code: c.to_owned(),
        api_key: Secret::new(c.to_owned()),
        session: c.to_owned(),
        note_body: c.to_owned(),
    }
}

fn outer(c: &str) -> Outer<Credential> {
    Outer {
        request_id: 42,
        inner: inner(c),
        credentials: vec![
            Credential::Password {
                user_id: 1,
                password: c.to_owned(),
            },
            Credential::Token(c.to_owned()),
            Credential::Key(Secret::new(c.to_owned())),
            Credential::Nested(Box::new(inner(c))),
            Credential::Anonymous,
        ],
        maybe: Some(Box::new(inner(c))),
        by_user: BTreeMap::from([("jane".to_owned(), Credential::Token(c.to_owned()))]),
        payload: Credential::Key(Secret::new(c.to_owned())),
        access_token: Credential::Token(c.to_owned()),
        secrets: vec![Secret::new(c.to_owned()), Secret::new(c.to_owned())],
    }
}

fn generic_string(c: &str) -> Outer<String> {
    let o = outer(c);
    Outer {
        request_id: o.request_id,
        inner: o.inner,
        credentials: o.credentials,
        maybe: None,
        by_user: o.by_user,
        // A plain `String` in a non-sensitive field is shown: use a fixed value.
        payload: "public payload".to_owned(),
        // A plain `String` under a sensitive name is masked.
        access_token: c.to_owned(),
        secrets: o.secrets,
    }
}

fn denied(c: &str) -> Denied {
    Denied {
        id: 3,
        display_name: c.to_owned(),
        address: vec![c.to_owned(), c.to_owned()],
    }
}

// ---------------------------------------------------------------------------------------------
// The harness.

/// An error whose chain carries the value.
#[derive(Debug)]
struct RequestFailed<'a, T: fmt::Debug> {
    request: &'a T,
    source: Cause<'a, T>,
}

#[derive(Debug)]
struct Cause<'a, T: fmt::Debug>(&'a T);

impl<T: fmt::Debug> fmt::Display for RequestFailed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request failed: {:?}", self.request)
    }
}

impl<T: fmt::Debug> fmt::Display for Cause<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "caused by {:#?}", self.0)
    }
}

impl<T: fmt::Debug> std::error::Error for Cause<'_, T> {}

impl<T: fmt::Debug> std::error::Error for RequestFailed<'_, T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

fn error_chain<T: fmt::Debug>(v: &T) -> String {
    let e = RequestFailed {
        request: v,
        source: Cause(v),
    };
    // Rendered the way error reporters do: Display, then each source, then Debug.
    format!("{e}: {}\n{e:?}", e.source)
}

/// Every rendering of `v`. Add a sink here and every leak test covers it.
fn outputs_of<T: fmt::Debug + Record>(v: &T) -> Vec<(&'static str, String)> {
    vec![
        ("debug", format!("{v:?}")),
        ("debug_alternate", format!("{v:#?}")),
        ("debug_padded", format!("{v:>200?}")),
        ("redacted_display", redacted(v).to_string()),
        ("redacted_debug", format!("{:?}", redacted(v))),
        (
            "redacted_serialize",
            serde_json::to_string(&redacted(v)).expect("serialize"),
        ),
        (
            "redacted_serialize_pretty",
            serde_json::to_string_pretty(&redacted(v)).expect("serialize"),
        ),
        (
            "redacted_to_value",
            serde_json::to_value(redacted(v))
                .expect("to_value")
                .to_string(),
        ),
        ("record_json", to_json_string(v.record())),
        ("span_attribute", DisplayValue(v.record()).to_string()),
        ("panic_debug", panic_report(|| panic!("bad request: {v:?}"))),
        (
            "panic_unwrap_err",
            panic_report(|| {
                let r: Result<(), &T> = std::hint::black_box(Err(v));
                r.unwrap();
            }),
        ),
        (
            "panic_expect_some",
            panic_report(|| {
                let r: Result<&T, &T> = std::hint::black_box(Err(v));
                let _ = r.expect("request rejected");
            }),
        ),
        ("error_chain", error_chain(v)),
    ]
}

fn all_outputs(c: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    out.extend(outputs_of(&inner(c)));
    out.extend(outputs_of(&outer(c)));
    out.extend(outputs_of(&generic_string(c)));
    out.extend(outputs_of(&denied(c)));
    out.extend(outputs_of(&Tuple(
        1,
        c.to_owned(),
        Secret::new(c.to_owned()),
    )));
    out.extend(outputs_of(&Secret::new(c.to_owned())));
    out.extend(outputs_of(&vec![Secret::new(c.to_owned())]));
    out.extend(outputs_of(&Some(Credential::Token(c.to_owned()))));
    for (_, outputs) in issue8_cases(c) {
        out.extend(outputs);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn canaries_never_leak(c in canary()) {
        assert_no_leak(&c, &all_outputs(&c));
    }

    /// Full masking is constant: outputs do not depend on the masked values (no length or
    /// shape leak). Fingerprint and length fields are left out: they are partial by design.
    #[test]
    fn full_masking_is_constant(a in canary(), b in canary()) {
        let mk = |c: &str| {
            let mut out = outputs_of(&Denied { id: 1, display_name: c.to_owned(), address: vec![c.to_owned()] });
            out.extend(outputs_of(&Tuple(1, c.to_owned(), Secret::new(c.to_owned()))));
            out.extend(outputs_of(&Credential::Password { user_id: 1, password: c.to_owned() }));
            out.extend(outputs_of(&Secret::new(c.to_owned())));
            out
        };
        prop_assert_eq!(mk(&a), mk(&b));
    }

    /// `email` shows the first character of the local part and the domain, nothing else.
    #[test]
    fn email_reveals_a_bounded_part(local in "[A-Za-z0-9]{12,30}", domain in "[a-z]{3,10}\\.(com|org)") {
        #[derive(Redact)]
        struct Contact { #[redact(email)] email: String }
        let c = Contact { email: format!("{local}@{domain}") };
        let first = local.chars().next().unwrap_or('x');
        let expected = format!("{first}***@{domain}");
        for (sink, out) in outputs_of(&c) {
            prop_assert!(out.contains(&expected), "{} lacks the mask: {}", sink, out);
            for w in windows(&local[1..], 5) {
                prop_assert!(!out.contains(&w), "{} shows {} of {}: {}", sink, w, local, out);
            }
        }
    }

    /// `last4` shows the last four characters of long values and nothing of short ones.
    #[test]
    fn last4_reveals_a_bounded_part(value in "[A-Za-z0-9]{1,40}") {
        #[derive(Redact)]
        struct Payment { #[redact(last4)] card: String }
        let p = Payment { card: value.clone() };
        let n = value.chars().count();
        for (sink, out) in outputs_of(&p) {
            if n >= 12 {
                prop_assert!(out.contains(&format!("************{}", &value[n - 4..])), "{}: {}", sink, out);
                for w in windows(&value, 5) {
                    prop_assert!(!out.contains(&w), "{}: {}", sink, out);
                }
            } else {
                prop_assert!(out.contains(observa::REDACTED), "{}: {}", sink, out);
                if n >= 4 {
                    for w in windows(&value, 4) {
                        prop_assert!(!out.contains(&w), "{}: {}", sink, out);
                    }
                }
            }
        }
    }
}

/// The issue 8 cases on fixed canaries, counted one by one: the before/after of the harness.
#[test]
fn issue8_cases_do_not_leak() {
    let canaries = [
        "sk_live_Zq9Tx7canaryPw",
        "Abcd1234.example",
        "ЖщжДЯ漢字日本語한글🔑é",
    ];
    let mut total = 0;
    let mut leaked = Vec::new();
    for c in canaries {
        for (name, outputs) in issue8_cases(c) {
            total += 1;
            let r = panic::catch_unwind(|| assert_no_leak(c, &outputs));
            if r.is_err() {
                leaked.push(format!("{name} ({c})"));
            }
        }
    }
    println!("issue 8 cases: {total}, leaked: {}", leaked.len());
    assert!(
        leaked.is_empty(),
        "{} of {total} cases leak: {leaked:#?}",
        leaked.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Random nested structs, enums and maps (issue 8): canaries in every sensitive position.

#[derive(Redact, Clone)]
enum Tree {
    Leaf { label: String },
    Secret { password: String },
    Wrapped(String),
    Pair(#[redact(public)] u32, #[redact(public)] Box<Tree>),
    Map { entries: BTreeMap<String, Tree> },
    Headers { headers: HashMap<String, String> },
    List { items: Vec<Tree> },
    Node(#[redact(public)] Box<Node>),
}

#[derive(Redact, Clone)]
struct Node {
    id: u64,
    api_key: String,
    children: Vec<Tree>,
    attrs: BTreeMap<String, Tree>,
    plain: BTreeMap<String, String>,
}

const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "Authorization",
    "x-api-key",
    "set-cookie",
    "refresh_token",
    "clientSecret",
    "session",
    "card_number",
];
const PUBLIC_KEYS: &[&str] = &["a", "user", "items", "meta", "region"];

/// A map whose sensitive keys hold `secret` and public keys hold `public`.
fn keyed<V: Clone + fmt::Debug + 'static>(
    secret: impl Strategy<Value = V> + Clone,
    public: impl Strategy<Value = V> + Clone,
) -> impl Strategy<Value = Vec<(String, V)>> {
    let entry = prop_oneof![
        (proptest::sample::select(SENSITIVE_KEYS), secret).prop_map(|(k, v)| (k.to_owned(), v)),
        (proptest::sample::select(PUBLIC_KEYS), public).prop_map(|(k, v)| (k.to_owned(), v)),
    ];
    proptest::collection::vec(entry, 0..5)
}

impl fmt::Debug for TreeDbg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tree")
    }
}

/// proptest wants `Debug` on generated values; the tree's own `Debug` is what is under test, so
/// the strategy carries an opaque wrapper.
#[derive(Clone)]
struct TreeDbg(Tree);

fn tree(c: String) -> impl Strategy<Value = TreeDbg> {
    let leaf = prop_oneof![
        Just(TreeDbg(Tree::Leaf {
            label: "public-label".into()
        })),
        Just(TreeDbg(Tree::Secret {
            password: c.clone()
        })),
        Just(TreeDbg(Tree::Wrapped(c.clone()))),
        keyed(Just(c.clone()), Just("public-value".to_owned())).prop_map(|kv| TreeDbg(
            Tree::Headers {
                headers: kv.into_iter().collect()
            }
        )),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let c = c.clone();
        let secret_tree = inner.clone();
        prop_oneof![
            (any::<u32>(), inner.clone()).prop_map(|(n, t)| TreeDbg(Tree::Pair(n, Box::new(t.0)))),
            keyed(secret_tree.clone(), inner.clone()).prop_map(|kv| TreeDbg(Tree::Map {
                entries: kv.into_iter().map(|(k, v)| (k, v.0)).collect()
            })),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| TreeDbg(Tree::List {
                items: v.into_iter().map(|t| t.0).collect()
            })),
            (
                proptest::collection::vec(inner.clone(), 0..3),
                keyed(secret_tree, inner),
                keyed(Just(c.clone()), Just("public-value".to_owned())),
            )
                .prop_map(move |(children, attrs, plain)| TreeDbg(Tree::Node(
                    Box::new(Node {
                        id: 9,
                        api_key: c.clone(),
                        children: children.into_iter().map(|t| t.0).collect(),
                        attrs: attrs.into_iter().map(|(k, v)| (k, v.0)).collect(),
                        plain: plain.into_iter().collect(),
                    })
                ))),
        ]
    })
}

fn canary_and_tree() -> impl Strategy<Value = (String, TreeDbg)> {
    canary().prop_flat_map(|c| (Just(c.clone()), tree(c)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever the nesting of structs, enums, lists and maps, a canary in a sensitive position
    /// (a sensitive field name, an unnamed field, a value under a sensitive map key) never shows
    /// in `Debug`, the redacted view or the recorded JSON.
    #[test]
    fn nested_maps_and_enums_never_leak((c, t) in canary_and_tree()) {
        let t = t.0;
        assert_no_leak(&c, &outputs_of(&t));
        // Shown parts still show: a public value placed in the tree reaches the output.
        let debug = format!("{t:?}");
        prop_assert!(!debug.is_empty());
    }
}

#[test]
fn nested_tree_shows_public_parts() {
    let c = "sk_live_canary_0123";
    let t = Tree::Map {
        entries: BTreeMap::from([
            (
                "meta".to_owned(),
                Tree::Headers {
                    headers: HashMap::from([
                        ("Authorization".to_owned(), c.to_owned()),
                        ("region".to_owned(), "eu-west".to_owned()),
                    ]),
                },
            ),
            ("password".to_owned(), Tree::Leaf { label: c.into() }),
        ]),
    };
    let outputs = outputs_of(&t);
    assert_no_leak(c, &outputs);
    for (sink, out) in &outputs {
        assert!(out.contains("eu-west"), "{sink}: {out}");
    }
    let debug = format!("{t:?}");
    assert!(
        debug.starts_with(r#"Map { entries: {"meta": Headers { headers: {"#),
        "{debug}"
    );
    for part in [
        r#""Authorization": [REDACTED]"#,
        r#""region": "eu-west""#,
        r#""password": [REDACTED]} }"#,
    ] {
        assert!(debug.contains(part), "{debug}");
    }
}

// ---------------------------------------------------------------------------------------------
// Full masking never touches the value.

/// A value whose every formatting panics.
struct Bomb;

impl fmt::Debug for Bomb {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Bomb::fmt was called")
    }
}

impl fmt::Display for Bomb {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Bomb::fmt was called")
    }
}

impl observa::redact::zeroize::Zeroize for Bomb {
    fn zeroize(&mut self) {}
}

#[derive(Redact)]
struct Defused {
    id: u32,
    password: Bomb,
    #[redact]
    payload: Bomb,
    wrapped: Secret<Bomb>,
    private_key: Vec<Bomb>,
}

#[derive(Redact)]
#[redact(all)]
enum DefusedEnum {
    A { bomb: Bomb },
    B(Bomb, Secret<Bomb>),
}

#[test]
fn full_masking_never_formats_the_value() {
    let d = Defused {
        id: 1,
        password: Bomb,
        payload: Bomb,
        wrapped: Secret::new(Bomb),
        private_key: vec![Bomb],
    };
    let outputs = outputs_of(&d);
    for (sink, out) in &outputs {
        assert!(!out.contains("Bomb::fmt"), "{sink}: {out}");
    }
    assert_eq!(
        outputs[0].1,
        "Defused { id: 1, password: [REDACTED], payload: [REDACTED], wrapped: Secret([REDACTED]), private_key: [REDACTED] }"
    );
    for e in [
        DefusedEnum::A { bomb: Bomb },
        DefusedEnum::B(Bomb, Secret::new(Bomb)),
    ] {
        for (sink, out) in outputs_of(&e) {
            assert!(!out.contains("Bomb::fmt"), "{sink}: {out}");
        }
    }
}

#[test]
fn harness_sees_what_it_should() {
    // The panic capture works, and shown fields do appear: a leak would be caught.
    let outputs = outputs_of(&Denied {
        id: 123_456_789,
        display_name: "x".into(),
        address: vec![],
    });
    for (sink, out) in &outputs {
        assert!(
            out.contains("123456789"),
            "{sink} lost the public field: {out}"
        );
        assert!(out.contains(observa::REDACTED), "{sink}: {out}");
    }
    #[derive(Redact)]
    struct Plain {
        comment: String,
    }
    let leaky = outputs_of(&Plain {
        comment: "canary-Жщ漢字-visible".into(),
    });
    let caught = panic::catch_unwind(|| assert_no_leak("canary-Жщ漢字-visible", &leaky));
    assert!(caught.is_err(), "a shown field must be reported as a leak");
}

#[test]
fn fingerprints_are_keyed_not_plain_hashes() {
    use observa::redact::FingerprintKey;
    let value = "session-0123456789";
    let process = observa::redact::fingerprint(value).to_string();
    let a = FingerprintKey::new(b"deployment-key-A-0123456789").expect("key");
    let b = FingerprintKey::new(b"deployment-key-B-0123456789").expect("key");
    assert_ne!(a.fingerprint(value), b.fingerprint(value));
    // Not a prefix of a plain SHA-256 (or of HMAC under an empty key).
    let empty = [0u8; 0];
    let plain_like = [
        &hex(&sha256(value.as_bytes()), false)[..8],
        &hex(&sha256(&empty), false)[..8],
    ];
    assert!(!plain_like.contains(&process.as_str()));
    assert_eq!(process.len(), 8);
    assert!(process.bytes().all(|c| c.is_ascii_hexdigit()));
}

/// A tiny SHA-256 for the test above (FIPS 180-4), so the test does not trust the runtime's.
fn sha256(msg: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut data = msg.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((msg.len() as u64) * 8).to_be_bytes());
    for chunk in data.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[test]
fn sha256_reference() {
    assert_eq!(
        hex(&sha256(b"abc"), false),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
