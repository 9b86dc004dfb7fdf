//! Leak tests through the real log pipeline: random canaries in sensitive fields of
//! `#[derive(Redact)]` values and `Secret`s go through `#[observed(fields(...))]`, `ret`, `Err`
//! values, panics and third-party `tracing` events, into the JSON lines that `observa::init`
//! writes; none of them, nor any piece or encoding of one, may appear. The recorded values must
//! be nested JSON objects, not Debug strings.

#![allow(dead_code)] // fields exist to be recorded, not read

mod redact_support;

use observa::{Redact, Secret, observed};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use redact_support::{assert_no_leak, canary};
use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static LOGS: OnceLock<observa::MemoryWriter> = OnceLock::new();

fn setup() {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(
            observa::Config::new("redact-pipeline-tests")
                .with_writer(w.clone())
                .with_log_level("debug"),
        )
        .expect("init");
        std::mem::forget(guard);
        w
    });
}

fn lines() -> Vec<String> {
    LOGS.get()
        .expect("setup")
        .contents()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (the writer is asynchronous) until at least `n` lines contain `marker`.
fn wait_for(marker: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<String> = lines().into_iter().filter(|l| l.contains(marker)).collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[derive(Redact, Clone)]
struct Card {
    holder_id: u64,
    #[redact(last4)]
    number: String,
    cvv: String,
}

#[derive(Redact, Clone)]
enum Auth {
    Password { user_id: u64, password: String },
    Token(#[redact] String),
    Key(Secret<String>),
}

#[derive(Redact, Clone)]
struct LoginRequest<T> {
    request_id: u64,
    #[redact(email)]
    email: String,
    password: String,
    via: Auth,
    cards: Vec<Card>,
    #[redact(fingerprint)]
    session: String,
    #[redact(len)]
    note_body: String,
    extra: T,
}

#[derive(Debug)]
enum LoginError {
    /// Carries the (redacted) request in its message.
    Rejected(String),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

impl std::error::Error for LoginError {}

#[observed(event = "redact.login", fields(req, key), ret)]
fn login(
    req: &LoginRequest<Option<Card>>,
    key: &Secret<String>,
    fail: bool,
) -> Result<LoginRequest<Option<Card>>, LoginError> {
    // A dependency logging behind observa's back.
    tracing::info!(
        password = %req.password,
        api_key = key.expose().as_str(),
        request_id = req.request_id,
        "third party saw a login"
    );
    tracing::info!(login = ?req, "debug of the request");
    if fail {
        Err(LoginError::Rejected(format!("{req:?}")))
    } else {
        Ok(req.clone())
    }
}

#[observed(event = "redact.panics", fields(req))]
fn login_panics(req: &LoginRequest<Option<Card>>) {
    panic!("cannot handle {req:?}");
}

fn request(c: &str, id: u64) -> LoginRequest<Option<Card>> {
    let card = Card {
        holder_id: 9,
        // `last4` shows the last four characters by design: no canary here.
        number: "4242424242426789".to_owned(),
        cvv: c.to_owned(),
    };
    LoginRequest {
        request_id: id,
        email: format!("x{c}@example.com"),
        password: c.to_owned(),
        via: Auth::Password {
            user_id: 1,
            password: c.to_owned(),
        },
        cards: vec![card.clone()],
        session: c.to_owned(),
        note_body: c.to_owned(),
        extra: Some(card),
    }
}

#[test]
fn canaries_never_reach_the_log_pipeline() {
    setup();
    redact_support::capture_panics();
    let mut runner = TestRunner::default();
    let strategy = canary();
    let mut canaries = Vec::new();
    for case in 0..24u64 {
        let c = strategy.new_tree(&mut runner).expect("canary").current();
        let id = 1_000_000 + case;
        let req = request(&c, id);
        let key = Secret::new(c.clone());
        let _ = login(&req, &key, case % 2 == 0);
        let mut req = req;
        req.via = if case % 3 == 0 {
            Auth::Token(c.clone())
        } else {
            Auth::Key(Secret::new(c.clone()))
        };
        let panicked = redact_support::panic_report(|| login_panics(&req));
        assert!(panicked.contains("[REDACTED]"), "{panicked}");
        assert_no_leak(&c, &[("panic message", panicked)]);
        canaries.push((c, id));
    }
    for (c, id) in &canaries {
        // Two third-party events, the completion or failure line, the panic line.
        let got = wait_for(&format!("{id}"), 4);
        assert!(got.len() >= 4, "lines for request {id}: {got:#?}");
        let outputs: Vec<(&'static str, String)> =
            got.into_iter().map(|l| ("log line", l)).collect();
        assert_no_leak(c, &outputs);
    }
    // And the whole log at once (lines that do not carry the request id, too).
    let all = LOGS.get().expect("setup").contents();
    for (c, _) in &canaries {
        assert_no_leak(c, &[("whole log", all.clone())]);
    }
}

#[test]
fn recorded_values_are_nested_json_objects() {
    setup();
    let req = request("hunter2-0123456789", 77);
    let key = Secret::new("key-0123456789".to_owned());
    let _ = login(&req, &key, false);
    let got = wait_for("redact.login.completed", 1);
    let line = got
        .iter()
        .find(|l| l.contains("\"request_id\":77"))
        .expect("completion line");
    let v: Value = serde_json::from_str(line).expect("JSON line");
    let r = &v["req"];
    assert!(r.is_object(), "req is not an object: {line}");
    assert_eq!(r["request_id"], 77);
    assert_eq!(r["password"], observa::REDACTED);
    assert_eq!(r["email"], "x***@example.com");
    assert_eq!(r["via"]["Password"]["password"], observa::REDACTED);
    assert_eq!(r["cards"][0]["number"], "************6789");
    assert_eq!(r["cards"][0]["cvv"], observa::REDACTED);
    assert_eq!(r["note_body"], "<redacted len=18>");
    assert_eq!(
        r["session"],
        observa::redact::fingerprint("hunter2-0123456789").to_string()
    );
    assert_eq!(v["key"], observa::REDACTED, "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}
