//! The redaction paths do not allocate: redacted `Debug` (plain and `{:#?}`), `Secret`'s
//! `Debug`, and the recorded JSON written into a buffer with room, counted by a global allocator.

#![allow(dead_code)] // fields exist to be formatted, not read

use observa::{Record, Redact, Secret};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(Redact)]
struct Login {
    user_id: u64,
    #[redact(email)]
    email: String,
    password: String,
    #[redact(last4)]
    card: String,
    #[redact(fingerprint)]
    session: String,
    #[redact(len)]
    note_body: String,
    api_key: Secret<String>,
    remember_me: bool,
    roles: Vec<Role>,
    by_name: BTreeMap<String, Role>,
}

#[derive(Redact)]
enum Role {
    Admin { since: u32, token: String },
    User(#[redact] String),
    Guest,
}

fn login() -> Login {
    Login {
        user_id: 42,
        email: "jane@example.com".into(),
        password: "hunter2".into(),
        card: "4242424242424242".into(),
        session: "sess-0123".into(),
        note_body: "hello".into(),
        api_key: Secret::new("ak_live".into()),
        remember_me: true,
        roles: vec![
            Role::Admin {
                since: 2020,
                token: "t".into(),
            },
            Role::User("u".into()),
            Role::Guest,
        ],
        by_name: BTreeMap::from([("jane".to_owned(), Role::Guest)]),
    }
}

#[test]
fn redacted_debug_does_not_allocate() {
    let l = login();
    // The process fingerprint key is chosen once, on first use (reading the environment).
    let _ = observa::redact::fingerprint_key_source();
    let mut buf = String::with_capacity(4096);
    assert_eq!(
        allocations(|| {
            let _ = write!(buf, "{l:?}");
        }),
        0
    );
    buf.clear();
    assert_eq!(
        allocations(|| {
            let _ = write!(buf, "{l:#?}");
        }),
        0
    );
    assert!(buf.contains("[REDACTED]") && !buf.contains("hunter2"));
    assert_eq!(
        allocations(|| {
            let _ = write!(std::io::sink(), "{l:?}");
        }),
        0
    );
    let s = Secret::new(String::from("x"));
    buf.clear();
    assert_eq!(
        allocations(|| {
            let _ = write!(buf, "{s:?}");
        }),
        0
    );
}

#[test]
fn recorded_json_does_not_allocate() {
    let l = login();
    let _ = observa::redact::fingerprint_key_source();
    let mut out = Vec::with_capacity(4096);
    assert_eq!(
        allocations(|| {
            observa::log::json::write_value(&mut out, l.record(), 4096);
        }),
        0
    );
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains(r#""password":"[REDACTED]""#), "{text}");
}
