//! The completion event and the call span, defined once: their metadata name, their field
//! names and order, and the positions the call path writes by index.
//!
//! Every writer and reader goes through these constants: the call site (`__site!` and
//! `callsite`) builds the span and the events from them, the log layer and the Sentry
//! layer recognise completion events by [`COMPLETION`], and the raw-JSON `fields` channel
//! (`trusted_fields`) is honoured only for events observa itself emits.

use std::cell::Cell;

/// Name of the metadata of observa's own completion events (`<event>.completed` / `.failed`,
/// and the lines of the HTTP layer, the outbound client, lifecycles, fan-out and security).
pub const COMPLETION: &str = "observa.completion";

/// Field names of completion events, in order (the indices below).
pub const COMPLETION_FIELDS: &[&str] = &[EVENT, DURATION_MS, OUTCOME, ERROR, ERROR_TYPE, FIELDS];

/// `event`: the stable event id (`sync_job.completed`).
pub const EVENT: &str = "event";
/// `duration_ms`: the call's duration.
pub const DURATION_MS: &str = "duration_ms";
/// `outcome`: `success`, `client_error`, `server_error`, `panic`, `cancelled`.
pub const OUTCOME: &str = "outcome";
/// `error`: the rendered error (scrubbed and bounded by the log layer).
pub const ERROR: &str = "error";
/// `error_type`: the short type name of the error.
pub const ERROR_TYPE: &str = "error_type";
/// `fields`: a JSON object of recorded values, copied into the line as its members. Honoured
/// only when observa emitted it (`trusted_fields`); otherwise an ordinary text field.
pub const FIELDS: &str = "fields";

/// Positions in [`COMPLETION_FIELDS`].
pub(crate) mod at {
    pub(crate) const EVENT: usize = 0;
    pub(crate) const DURATION_MS: usize = 1;
    pub(crate) const OUTCOME: usize = 2;
    pub(crate) const ERROR: usize = 3;
    pub(crate) const ERROR_TYPE: usize = 4;
    pub(crate) const FIELDS: usize = 5;
    /// Number of completion fields.
    pub(crate) const LEN: usize = 6;
}

/// The call span's leading fields: the bound context ids, then the recorded fields.
pub const SPAN_CORRELATION_ID: &str = "correlation_id";
/// See [`SPAN_CORRELATION_ID`].
pub const SPAN_TENANT_ID: &str = "tenant_id";
/// See [`SPAN_CORRELATION_ID`].
pub const SPAN_USER_ID: &str = "user_id";
/// The call span's trailing fields, recorded at the end of the call.
pub const SPAN_OUTCOME: &str = "outcome";
/// See [`SPAN_OUTCOME`].
pub const SPAN_ERROR: &str = "error";
/// See [`SPAN_OUTCOME`]: `ERROR` on failure (the OpenTelemetry span status).
pub const SPAN_STATUS: &str = "otel.status_code";

/// Number of leading span fields (before the recorded ones).
pub(crate) const SPAN_HEAD: usize = 3;
/// Number of trailing span fields (after the recorded ones): outcome, error, status, in that
/// order.
pub(crate) const SPAN_TAIL: usize = 3;

thread_local! {
    /// The `fields` text of the completion event this thread is dispatching, by address and
    /// length: the one value the log layer copies as raw JSON.
    static TRUSTED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Observa is dispatching one of its own [`COMPLETION`] events on this thread.
    static DISPATCHING: Cell<bool> = const { Cell::new(false) };
}

/// True while observa dispatches one of its own [`COMPLETION`] events on this thread
/// ([`own`], [`with_trusted_fields`]). An event of other code that borrows the name is not
/// observa's: the log layer masks its fields by key like any other event's.
#[inline]
pub(crate) fn dispatching() -> bool {
    DISPATCHING.get()
}

/// Runs `dispatch`, which emits one of observa's own [`COMPLETION`] events (with no raw
/// `fields`), marked as observa's.
#[inline]
pub(crate) fn own<R>(dispatch: impl FnOnce() -> R) -> R {
    with_trusted_fields("", dispatch)
}

/// Runs `dispatch` (which emits one completion event carrying `fields` as its [`FIELDS`]
/// value) with `fields` marked as observa's own JSON. Any other event that borrows the
/// [`COMPLETION`] name, or any other text under [`FIELDS`], is written as ordinary, escaped
/// text.
pub(crate) fn with_trusted_fields<R>(fields: &str, dispatch: impl FnOnce() -> R) -> R {
    struct Reset((usize, usize), bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            TRUSTED.set(self.0);
            DISPATCHING.set(self.1);
        }
    }
    let _reset = Reset(
        TRUSTED.replace((fields.as_ptr() as usize, fields.len())),
        DISPATCHING.replace(true),
    );
    dispatch()
}

thread_local! {
    /// A copy of the `fields` text of the completion event a call is dispatching on this
    /// thread ([`with_own_text`]); between dispatches, the text of the one before (never read
    /// then: [`with_dispatched_text`] reads only the text [`trusted_fields`] names).
    static OWN_TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs `dispatch` with a copy of the call's rendered `fields` text lent to the thread, where
/// observa's own layer reads it in place ([`with_dispatched_text`]) instead of visiting the
/// event for it (the thread keeps the buffer: no allocation once it is large enough). Text that
/// is not UTF-8 (never written by the call path) is dispatched as no text, as before. A
/// dispatch inside another one (a subscriber's code that calls an instrumented function)
/// dispatches its own text as it is: the outer one holds the slot.
pub(crate) fn with_own_text(text: &[u8], dispatch: impl FnOnce(&str)) {
    let Ok(text) = std::str::from_utf8(text) else {
        dispatch("");
        return;
    };
    // (In a thread-local destructor, after this one's: the text is dispatched as it is.)
    let mut dispatch = Some(dispatch);
    let _ = OWN_TEXT.try_with(|slot| {
        let dispatch = dispatch.take()?;
        let Ok(mut lent) = slot.try_borrow_mut() else {
            dispatch(text);
            return Some(());
        };
        lent.clear();
        lent.push_str(text);
        drop(lent);
        // (Nothing can hold the slot between the two borrows.)
        match slot.try_borrow() {
            Ok(lent) => dispatch(&lent),
            Err(_) => dispatch(text),
        }
        // A buffer grown past a line's usual size is not kept.
        if let Ok(mut lent) = slot.try_borrow_mut()
            && lent.capacity() > OWN_TEXT_KEEP
        {
            *lent = String::new();
        }
        Some(())
    });
    if let Some(dispatch) = dispatch {
        dispatch(text);
    }
}

/// Capacity of the lent-text buffer a thread keeps between dispatches.
const OWN_TEXT_KEEP: usize = 4096;

/// Runs `read` on the `fields` text of the completion event observa is dispatching on this
/// thread, when that is the text lent by [`with_own_text`] (the very bytes [`trusted_fields`]
/// names); `None` otherwise (the event is read by visiting it).
#[inline]
pub(crate) fn with_dispatched_text<R>(read: impl FnOnce(&str) -> R) -> Option<R> {
    OWN_TEXT
        .try_with(|slot| {
            let lent = slot.try_borrow().ok()?;
            trusted_fields(&lent).then(|| read(&lent))
        })
        .ok()
        .flatten()
}

/// The typed head of the completion event `emit` is dispatching on this thread: the values it
/// also carries as the event's `event`, `duration_ms` and `outcome` fields, handed to observa's
/// own log layer as they are so that it skips the `tracing` visitor for them (other subscribers
/// still see the event's fields, unchanged). All `'static` or `Copy`: the channel needs no
/// borrow (and no unsafe).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Typed {
    /// Address of the event's metadata: the values belong to that event only.
    pub(crate) meta: usize,
    /// The `event` value.
    pub(crate) event: &'static str,
    /// The `duration_ms` and `outcome` values (both or neither).
    pub(crate) done: Option<(f64, &'static str)>,
    /// The raw clock reading the call ended at ([`crate::encode::time::wall_nanos_at`]): the
    /// line's stamp, so the layer reads no clock of its own. `None`: the layer reads it.
    pub(crate) end: Option<u64>,
    /// The event carries no field besides these (no `error`, `error_type` or `fields`): the
    /// layer need not visit it at all.
    pub(crate) only: bool,
    /// The event carries no field whose value runs code but observa's while it is visited: no
    /// `error` (whose `Display` is the application's) and, to keep the rule simple, no
    /// `error_type`; its `fields` text, if any, is observa's (rendered when the call began,
    /// members appended at its end). Its line is written with the context borrowed
    /// ([`Typed::only`] implies it).
    pub(crate) quiet: bool,
    /// The event's `fields` text is exactly the members the call rendered when it began, under
    /// these keys ([`FieldKeys`]); `None`: nothing is known of its keys (read each as the
    /// strict reader does).
    pub(crate) keys: Option<&'static FieldKeys>,
    /// Where the log layer keeps this event's pre-rendered line head ([`HeadSlot`]).
    pub(crate) head: Option<&'static HeadSlot>,
}

/// The recorded fields' keys of one call site as its `fields` text writes them, rendered once
/// when the site's callsites are created: each with the separator before it (`{"order_id":`,
/// `,"amount":`), so a call copies them instead of escaping its field names again. The log
/// layer matches them as bytes at the start of the text ([`Typed::keys`]) instead of decoding
/// them; it reads the values, and any key that differs, strictly as before.
#[derive(Debug)]
pub(crate) struct FieldKeys {
    rendered: Box<[Box<[u8]>]>,
    names: &'static [&'static str],
    /// Every name is printable ASCII without `"` or `\`, at most 128 bytes: its rendered key is
    /// the name between quotes, which the layer's key writer would write as it is.
    plain: bool,
    /// Plain, the names distinct, and none of them one of the keys a line of a completion with
    /// no error writes before the event's fields ([`crate::log::line::LINE_KEYS`]): on such a
    /// line ([`Typed::quiet`]) with no bound field, no key of the line can take one.
    free: bool,
}

impl FieldKeys {
    pub(crate) fn new(names: &'static [&'static str]) -> FieldKeys {
        let rendered = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut k = vec![if i == 0 { b'{' } else { b',' }];
                crate::encode::json::write_str(&mut k, name, KEY_MAX);
                k.push(b':');
                k.into_boxed_slice()
            })
            .collect();
        let plain = names.iter().all(|n| {
            n.len() <= KEY_MAX && crate::encode::neutralise::plain_run(n.as_bytes()) == n.len()
        });
        let free = plain
            && !names.is_empty()
            && names
                .iter()
                .enumerate()
                .all(|(i, n)| !crate::log::line::LINE_KEYS.contains(n) && !names[..i].contains(n));
        FieldKeys {
            rendered,
            names,
            plain,
            free,
        }
    }

    /// See [`FieldKeys::free`](#structfield.free).
    #[inline]
    pub(crate) fn free(&self) -> bool {
        self.free
    }

    /// The rendered keys, in the order of the site's fields.
    #[inline]
    pub(crate) fn rendered(&self) -> &[Box<[u8]>] {
        &self.rendered
    }

    /// The `fields` text a call of this site renders when its `k`th value is `value(k)`
    /// (JSON text), as `Core::begin` writes it (for the tests of the layer's readers).
    #[cfg(test)]
    pub(crate) fn text_of<'v>(&self, value: impl Fn(usize) -> &'v str) -> String {
        let mut t = String::new();
        for (k, key) in self.rendered.iter().enumerate() {
            t.push_str(std::str::from_utf8(key).unwrap_or_default());
            t.push_str(value(k));
        }
        t.push('}');
        t
    }

    /// For the layer: the `k`th key as rendered (with its separator) and its name, when the
    /// rendered key is the name between quotes.
    #[inline]
    pub(crate) fn plain(&self, k: usize) -> Option<(&[u8], &'static str)> {
        if !self.plain {
            return None;
        }
        Some((self.rendered.get(k)?, self.names.get(k)?))
    }
}

/// Bound of a recorded field's key, in bytes (the line's key bound).
pub(crate) const KEY_MAX: usize = 128;

/// The part of a completion line that never changes for one callsite and event name (level,
/// event and target, escaped and bounded), rendered by observa's JSON format the first time it
/// writes the event and copied whole afterwards. The callsite holds the slot; the format owns
/// what goes in it.
#[derive(Debug, Default)]
pub(crate) struct HeadSlot(std::sync::OnceLock<Box<[u8]>>);

impl HeadSlot {
    pub(crate) const fn new() -> HeadSlot {
        HeadSlot(std::sync::OnceLock::new())
    }

    /// The rendered head, rendering it with `render` the first time.
    #[inline]
    pub(crate) fn get_or_render(&self, render: impl FnOnce() -> Box<[u8]>) -> &[u8] {
        self.0.get_or_init(render)
    }
}

thread_local! {
    static TYPED: Cell<Option<Typed>> = const { Cell::new(None) };
}

/// [`with_trusted_fields`] with the typed head of the event as well ([`typed`]).
pub(crate) fn with_typed<R>(typed: Typed, fields: &str, dispatch: impl FnOnce() -> R) -> R {
    struct Reset(Option<Typed>);
    impl Drop for Reset {
        fn drop(&mut self) {
            TYPED.set(self.0);
        }
    }
    let _reset = Reset(TYPED.replace(Some(typed)));
    with_trusted_fields(fields, dispatch)
}

/// The typed head of the completion event with metadata `meta`, when observa is dispatching it
/// on this thread ([`with_typed`]).
#[inline]
pub(crate) fn typed(meta: &tracing::Metadata<'_>) -> Option<Typed> {
    TYPED
        .get()
        .filter(|t| t.meta == std::ptr::from_ref(meta) as usize)
}

/// True when `value` is the `fields` text observa is dispatching on this thread (the very same
/// bytes, not equal ones).
#[inline]
pub(crate) fn trusted_fields(value: &str) -> bool {
    !value.is_empty() && TRUSTED.get() == (value.as_ptr() as usize, value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_dispatched_bytes_are_trusted() {
        let ours = String::from("{\"a\":1}");
        let copy = ours.clone();
        assert!(!trusted_fields(&ours));
        with_trusted_fields(&ours, || {
            assert!(trusted_fields(&ours));
            assert!(
                !trusted_fields(&copy),
                "equal text elsewhere is not trusted"
            );
            assert!(!trusted_fields(&ours[1..]));
        });
        assert!(!trusted_fields(&ours), "reset after the dispatch");
        let _ = std::panic::catch_unwind(|| with_trusted_fields(&ours, || panic!("subscriber")));
        assert!(!trusted_fields(&ours), "reset after a panic");
    }

    #[test]
    fn typed_is_scoped_to_the_dispatch() {
        static META: tracing::Metadata<'static> = tracing::Metadata::new(
            COMPLETION,
            "t",
            tracing::Level::INFO,
            None,
            None,
            None,
            tracing::field::FieldSet::new(COMPLETION_FIELDS, tracing_core::identify_callsite!(&CS)),
            tracing::metadata::Kind::EVENT,
        );
        struct Cs;
        impl tracing_core::Callsite for Cs {
            fn set_interest(&self, _: tracing_core::subscriber::Interest) {}
            fn metadata(&self) -> &tracing::Metadata<'_> {
                &META
            }
        }
        static CS: Cs = Cs;
        let t = Typed {
            meta: std::ptr::from_ref(&META) as usize,
            event: "a.completed",
            done: Some((1.0, "ok")),
            end: None,
            only: true,
            quiet: true,
            keys: None,
            head: None,
        };
        assert!(typed(&META).is_none());
        with_typed(t, "", || {
            assert_eq!(typed(&META).map(|t| t.event), Some("a.completed"));
        });
        assert!(typed(&META).is_none(), "reset after the dispatch");
    }

    #[test]
    fn indices_match_the_names() {
        assert_eq!(COMPLETION_FIELDS.len(), at::LEN);
        assert_eq!(COMPLETION_FIELDS[at::EVENT], EVENT);
        assert_eq!(COMPLETION_FIELDS[at::DURATION_MS], DURATION_MS);
        assert_eq!(COMPLETION_FIELDS[at::OUTCOME], OUTCOME);
        assert_eq!(COMPLETION_FIELDS[at::ERROR], ERROR);
        assert_eq!(COMPLETION_FIELDS[at::ERROR_TYPE], ERROR_TYPE);
        assert_eq!(COMPLETION_FIELDS[at::FIELDS], FIELDS);
    }
}
