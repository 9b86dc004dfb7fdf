//! Failure diagnostics: what a panic said, where, and (when asked) a bounded backtrace.
//!
//! [`crate::init`] / [`crate::layer`] install a panic hook that chains to the one in place (the
//! default hook still prints to stderr). For every panic it keeps, on the panicking thread, the
//! message with its location, scrubbed (URL userinfo, sensitive query values and `key=value`
//! pairs) and bounded to [`MAX_PANIC_MESSAGE`] bytes, and a backtrace bounded to
//! [`MAX_BACKTRACE_FRAMES`] frames and [`MAX_BACKTRACE_BYTES`] bytes (starting at the panicking
//! frame) when `RUST_BACKTRACE` / `RUST_LIB_BACKTRACE` ask for one (std's
//! rules) or `OBSERVA_PANIC_BACKTRACE=1` forces it (`0` turns it off whatever the environment).
//! The failed call's ERROR line (`#[observed]`'s `<event>.failed`, the HTTP layer's
//! `request.failed`) reads it there: `error` is the message, `backtrace` the trace. Neutralising
//! and the line bound are the sinks' as for any value.
//!
//! A hook installed by other code after observa replaces this one; the lines then say
//! `panicked` without the message.

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};

/// Longest panic message kept, in bytes.
pub const MAX_PANIC_MESSAGE: usize = 1024;
/// Most backtrace frames kept.
pub const MAX_BACKTRACE_FRAMES: usize = 48;
/// Longest backtrace kept, in bytes.
pub const MAX_BACKTRACE_BYTES: usize = 8192;

/// What a panic left for the failed call's line.
#[derive(Clone, Debug)]
pub(crate) struct PanicReport {
    /// `message (at file:line:col)`, scrubbed and bounded.
    pub(crate) message: String,
    /// Bounded backtrace, when asked for.
    pub(crate) backtrace: Option<String>,
}

thread_local! {
    static LAST: RefCell<Option<PanicReport>> = const { RefCell::new(None) };
}

/// 0: std's environment rules; 1: always; 2: never.
static BACKTRACE: AtomicU8 = AtomicU8::new(0);

/// Sets the backtrace policy (`None`: `RUST_BACKTRACE` decides).
pub(crate) fn set_backtrace(policy: Option<bool>) {
    BACKTRACE.store(
        match policy {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        },
        Ordering::Relaxed,
    );
}

/// Installs the hook (once per process).
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            record(info);
            previous(info);
        }));
    });
}

fn record(info: &std::panic::PanicHookInfo<'_>) {
    let any = info.payload();
    let payload = any
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| any.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any> (a panic payload that is not a string)");
    let mut message = String::with_capacity(payload.len().min(MAX_PANIC_MESSAGE) + 32);
    push_bounded(
        &mut message,
        &crate::scrub::scrub(payload),
        MAX_PANIC_MESSAGE,
    );
    if let Some(loc) = info.location() {
        use std::fmt::Write as _;
        let _ = write!(
            message,
            " (at {}:{}:{})",
            loc.file(),
            loc.line(),
            loc.column()
        );
    }
    let backtrace = match BACKTRACE.load(Ordering::Relaxed) {
        1 => Some(std::backtrace::Backtrace::force_capture()),
        2 => None,
        _ => Some(std::backtrace::Backtrace::capture()),
    }
    .filter(|b| b.status() == std::backtrace::BacktraceStatus::Captured)
    .map(|b| bound_backtrace(&b.to_string()));
    let report = PanicReport { message, backtrace };
    // A panic while the slot is borrowed (a panicking `Display` inside our own reading) keeps
    // the older report rather than panicking in the hook (which would abort).
    let _ = LAST.try_with(|l| {
        if let Ok(mut slot) = l.try_borrow_mut() {
            *slot = Some(report);
        }
    });
}

/// The report of the latest panic on this thread (the one unwinding, when called from a drop
/// during unwinding or right after `catch_unwind`).
pub(crate) fn last_panic() -> Option<PanicReport> {
    LAST.try_with(|l| l.try_borrow().ok().and_then(|r| r.clone()))
        .ok()
        .flatten()
}

/// Adds `"key":"value"` (neutralised, bounded) to the JSON object text `obj` (empty = no object
/// yet), as the completion event's `fields`.
pub(crate) fn append_json_field(obj: &mut Vec<u8>, key: &str, value: &str) {
    if obj.is_empty() {
        obj.push(b'{');
    } else {
        obj.pop();
        obj.push(b',');
    }
    crate::encode::json::write_str(obj, key, 64);
    obj.push(b':');
    crate::encode::json::write_str(obj, value, MAX_BACKTRACE_BYTES);
    obj.push(b'}');
}

/// `s` appended to `out`, cut to `max` bytes on a char boundary with the truncation marker.
fn push_bounded(out: &mut String, s: &str, max: usize) {
    crate::encode::text::push_bounded(out, s, max);
}

/// At most [`MAX_BACKTRACE_FRAMES`] frames and [`MAX_BACKTRACE_BYTES`] bytes of std's rendering.
fn bound_backtrace(full: &str) -> String {
    let mut out = String::with_capacity(full.len().min(MAX_BACKTRACE_BYTES) + 16);
    let mut frames = 0;
    // The frames of the hook and of the panic machinery say nothing: start after the last one.
    let lines: Vec<&str> = full.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| {
            l.contains("core::panicking::panic")
                || l.contains("std::panicking::begin_panic")
                || l.contains("rust_begin_unwind")
        })
        .map_or(0, |i| {
            // Skip its `at file:line` line too.
            if lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("at "))
            {
                i + 2
            } else {
                i + 1
            }
        });
    for line in &lines[start..] {
        let t = line.trim_start();
        // Frame lines start with their number (`12: symbol`); `at file:line` lines follow.
        let is_frame = t
            .split_once(':')
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_frame {
            frames += 1;
            if frames > MAX_BACKTRACE_FRAMES {
                out.push_str("…[more frames]");
                break;
            }
        }
        if out.len() + t.len() + 1 > MAX_BACKTRACE_BYTES {
            out.push_str(crate::encode::json::TRUNCATION_MARKER);
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(t);
    }
    crate::scrub::scrub(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_backtraces() {
        let mut full = String::new();
        for i in 0..200 {
            full.push_str(&format!(
                "  {i}: some::symbol\n             at src/x.rs:{i}:1\n"
            ));
        }
        let b = bound_backtrace(&full);
        assert!(b.len() <= MAX_BACKTRACE_BYTES + 32);
        assert!(b.contains("47: some::symbol"));
        let hooked = "  0: observa::failure::record\n  1: core::panicking::panic_fmt\n      at core/src/panicking.rs:1:1\n  2: app::handler\n      at src/main.rs:3:4\n";
        assert_eq!(
            bound_backtrace(hooked),
            "2: app::handler\nat src/main.rs:3:4"
        );
        assert!(!b.contains("48: some::symbol"));
        assert!(b.ends_with("…[more frames]"));
    }
}
