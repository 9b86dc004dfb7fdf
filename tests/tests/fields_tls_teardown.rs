//! Calls with recorded fields made from the destructor of another thread-local. The buffer a
//! call renders its fields into and the copy of the text its line lends the log layer live in
//! thread-locals of their own, registered for destruction the first time a call with fields
//! runs on the thread: after the user's thread-local here, so destroyed before it. A call from
//! the user's destructor must still work and write its line (it once panicked: "cannot access
//! a Thread Local Storage value during or after destruction"; with `ret`, it panicked again in
//! the call's drop while unwinding, which aborts the process).

mod log_support;

use log_support::{capture, panic_text, wait_lines};
use observa::observed;
use std::panic::catch_unwind;

#[observed(event = "teardown.plain")]
fn plain() -> u32 {
    1
}

#[observed(event = "teardown.fields", fields(order_id, note))]
fn with_fields(order_id: u64, note: &str) -> u64 {
    let _ = note;
    order_id
}

#[observed(event = "teardown.ret", fields(order_id), ret)]
fn with_ret(order_id: u64) -> u64 {
    order_id + 1
}

struct CallsOnDrop(std::sync::mpsc::Sender<Result<(u64, u64), String>>);

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        let r = catch_unwind(|| (with_fields(7, "in a destructor"), with_ret(8)))
            .map_err(|e| panic_text(&*e));
        let _ = self.0.send(r);
    }
}

thread_local! {
    static CALLS_ON_DROP: std::cell::RefCell<Option<CallsOnDrop>> =
        const { std::cell::RefCell::new(None) };
}

#[test]
fn a_call_with_fields_in_a_thread_local_destructor_works() {
    capture("teardown", "info");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // observa's thread-locals for a line (context slot, log scratch, metric shards)...
        assert_eq!(plain(), 1);
        // ...then the user's (destroyed before those)...
        CALLS_ON_DROP.with(|c| *c.borrow_mut() = Some(CallsOnDrop(tx)));
        // ...then those of a call with fields (destroyed before the user's).
        assert_eq!(with_fields(1, "live"), 1);
        assert_eq!(with_ret(2), 3);
    })
    .join()
    .unwrap();
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the destructor ran")
        .unwrap_or_else(|e| panic!("the call in the destructor panicked: {e}"));
    assert_eq!(got, (7, 9));
    let fields = wait_lines(
        |v| v["event"] == "teardown.fields.completed" && v["order_id"] == 7,
        |l| !l.is_empty(),
    );
    assert_eq!(fields.len(), 1, "the destructor's line");
    assert_eq!(fields[0]["note"], "in a destructor");
    let ret = wait_lines(
        |v| v["event"] == "teardown.ret.completed" && v["order_id"] == 8,
        |l| !l.is_empty(),
    );
    assert_eq!(ret.len(), 1, "the destructor's line");
    assert_eq!(ret[0]["return"], 9);
}
