//! The `tracing` layer: which callsites it wants (events always, spans only when exported),
//! which sinks take an event (routes by target), the `trace_id`/`span_id` of the current span,
//! and one line per sink, collected by the [`visitor`](super::visitor) and assembled by the
//! sink's [`LineFormat`].

use super::Format;
use super::format::console::Console;
use super::format::json::Json;
use super::format::{Head, LineFormat};
use super::visitor::{Collected, MaskCache, Masks};
use super::{json, line, writer};
use crate::completion::COMPLETION;
use crate::context;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;

/// A configured sink: where lines go and in which format.
pub(crate) struct Sink {
    pub(crate) format: Format,
    pub(crate) writer: writer::LineWriter,
    pub(crate) color: bool,
    pub(crate) route: Route,
}

/// Which lines a sink takes, by the route of their target ([`Layer::route_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Every line (stdout).
    All,
    /// Lines of no routed target (the main file).
    Unrouted,
    /// Lines of the routed targets with this file index.
    Routed(usize),
}

impl Route {
    #[inline]
    fn takes(self, routed: Option<usize>) -> bool {
        match self {
            Route::All => true,
            Route::Unrouted => routed.is_none(),
            Route::Routed(i) => routed == Some(i),
        }
    }
}

/// The observa `tracing` layer.
pub struct Layer {
    sinks: Vec<Sink>,
    /// Routed targets and their file index, longest target first.
    routes: Vec<(String, usize)>,
    max_value: usize,
    max_line: usize,
    production: bool,
}

impl fmt::Debug for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layer")
            .field("sinks", &self.sinks.len())
            .field("routes", &self.routes)
            .field("max_value", &self.max_value)
            .field("max_line", &self.max_line)
            .field("production", &self.production)
            .finish_non_exhaustive()
    }
}

impl Layer {
    pub(crate) fn new(
        sinks: Vec<Sink>,
        mut routes: Vec<(String, usize)>,
        max_value: usize,
        max_line: usize,
        production: bool,
    ) -> Layer {
        routes.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        Layer {
            sinks,
            routes,
            max_value,
            max_line: max_line.max(json::MIN_MAX_LINE_BYTES),
            production,
        }
    }
}

impl Layer {
    /// The file index of the route `target` belongs to: the longest routed target equal to it
    /// or followed in it by `::` or `.`.
    #[inline]
    fn route_of(&self, target: &str) -> Option<usize> {
        self.routes.iter().find_map(|(t, i)| {
            let rest = target.strip_prefix(t.as_str())?;
            (rest.is_empty() || rest.starts_with("::") || rest.starts_with('.')).then_some(*i)
        })
    }
}

/// Writes into `buf` the canonical keys a line with these `ids` (correlation, tenant, user,
/// connection) and trace ids carries ([`line::LINE_KEYS`]); returns how many.
fn canonical_keys(buf: &mut [&str], ids: [Option<&str>; 4], traced: bool) -> usize {
    let [corr, tenant, user, conn] = ids.map(|v| v.is_some());
    let on = [
        true, true, true, true, corr, tenant, user, conn, traced, traced, true,
    ];
    let mut n = 0;
    for (&k, on) in line::LINE_KEYS[..line::CANONICAL].iter().zip(on) {
        if on {
            buf[n] = k;
            n += 1;
        }
    }
    n
}

/// A typed completion that may take the own-fields route of `write_line`: nothing besides its
/// head and the `fields` text its call rendered with keys no line key can take.
#[inline]
fn own_route(t: &crate::completion::Typed) -> bool {
    t.quiet && !t.only && t.keys.is_some_and(crate::completion::FieldKeys::free)
}

/// Bound of a line's `event` value (as the visitor bounds it).
const EVENT_MAX: usize = 256;

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Capacity a scratch buffer keeps after an outsized line; larger buffers are released.
const SCRATCH_KEEP: usize = 16 * 1024;

/// Buffers reused by every line of a thread: no allocation per line once warm. After a line
/// that needed more than [`SCRATCH_KEEP`] in a buffer, the buffer is shrunk back, so one huge
/// event does not pin its peak size on the thread for ever.
struct Scratch {
    line: Vec<u8>,
    rest: Vec<u8>,
    text: Vec<u8>,
    event: String,
    message: String,
    tmp: String,
    members: Vec<line::Member>,
    ids: String,
    masks: MaskCache,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            masks: MaskCache::new(),
            ids: String::new(),
            line: Vec::new(),
            rest: Vec::new(),
            text: Vec::new(),
            event: String::new(),
            message: String::new(),
            tmp: String::new(),
            members: Vec::new(),
        }
    }

    fn shrink(&mut self) {
        fn v<T>(b: &mut Vec<T>) {
            if b.capacity() * std::mem::size_of::<T>() > SCRATCH_KEEP {
                b.clear();
                b.shrink_to(SCRATCH_KEEP / std::mem::size_of::<T>().max(1));
            }
        }
        fn s(b: &mut String) {
            if b.capacity() > SCRATCH_KEEP {
                b.clear();
                b.shrink_to(SCRATCH_KEEP);
            }
        }
        v(&mut self.line);
        v(&mut self.rest);
        v(&mut self.text);
        v(&mut self.members);
        s(&mut self.event);
        s(&mut self.message);
        s(&mut self.tmp);
        s(&mut self.ids);
    }
}

/// Capacity of every scratch buffer of this thread (tests of the shrink rule).
#[doc(hidden)]
pub fn scratch_capacity() -> usize {
    SCRATCH.with(|s| {
        s.try_borrow().map_or(0, |s| {
            s.line.capacity()
                + s.rest.capacity()
                + s.text.capacity()
                + s.event.capacity()
                + s.message.capacity()
                + s.tmp.capacity()
                + s.ids.capacity()
                + s.members.capacity() * std::mem::size_of::<line::Member>()
        })
    })
}

impl<S> tracing_subscriber::Layer<S> for Layer
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    /// Spans are needed only by an exporter: with no OTLP pipeline installed the stack has no
    /// consumer of spans (this layer reads the context, not spans), so span callsites are
    /// disabled and `#[observed]` (and every other crate) skips creating them. Events are
    /// always of interest; the filter decides.
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        if meta.is_span() && !crate::trace::exported_span(meta) {
            tracing_core::subscriber::Interest::never()
        } else {
            tracing_core::subscriber::Interest::always()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: LayerContext<'_, S>) -> bool {
        !meta.is_span() || crate::trace::exported_span(meta)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        // `trace_id` / `span_id` of the innermost span (own or another crate's: its
        // OpenTelemetry context is the current one), when OTLP tracing is on.
        #[cfg(feature = "otlp")]
        let trace = if crate::trace::active() {
            crate::trace::current_ids()
        } else {
            None
        };
        #[cfg(not(feature = "otlp"))]
        let trace = None::<crate::trace::TraceIds>;
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut bufs) => {
                self.write_event(event, trace.as_ref(), &mut bufs);
            }
            // An event emitted while formatting another (a Display impl that logs).
            Err(_) => self.write_event(event, trace.as_ref(), &mut Scratch::new()),
        });
    }
}

impl Layer {
    fn write_event(
        &self,
        event: &Event<'_>,
        trace: Option<&crate::trace::TraceIds>,
        scratch: &mut Scratch,
    ) {
        let meta = event.metadata();
        // Observa's own only when observa dispatches it: other code may borrow the name.
        let completion = meta.name() == COMPLETION && crate::completion::dispatching();
        let typed = if completion {
            crate::completion::typed(meta)
        } else {
            None
        };
        let masks = if completion {
            Masks::NONE
        } else {
            scratch.masks.get(meta, self.production)
        };
        // A typed completion carries the reading its call ended at: no clock read here.
        let now = crate::encode::time::wall_nanos_at(
            typed
                .and_then(|t| t.end)
                .unwrap_or_else(|| crate::encode::time::clock().raw()),
        );
        // A typed completion with nothing besides its head and its rendered `fields` runs no
        // code but observa's while its line is written (its head is typed, its `fields` text
        // is copied by the strict reader, bound fields are text), so its line is written with
        // the context borrowed, its ids read in place. Any other event's fields may run user
        // code (a `Display` that reads the context or logs), so its ids are copied aside first
        // and the context is not borrowed while they run.
        if typed.is_some_and(|t| t.quiet) {
            context::with_current(|c| {
                let ids = [
                    c.correlation_id(),
                    c.tenant_id(),
                    c.user_id(),
                    c.connection_id(),
                ];
                self.write_sinks(
                    event,
                    trace,
                    scratch,
                    (completion, masks, typed.as_ref(), now),
                    ids,
                    c.fields_slice(),
                );
            });
            scratch.shrink();
            return;
        }
        // The bound ids, read once (copied aside: the context is not borrowed while the event's
        // fields run user code), and the canonical keys this line carries: no field of the event
        // may take them.
        let mut ids_buf = std::mem::take(&mut scratch.ids);
        ids_buf.clear();
        let mut at = [None::<(usize, usize)>; 4];
        let bound = context::with_current(|c| {
            for (v, at) in [
                c.correlation_id(),
                c.tenant_id(),
                c.user_id(),
                c.connection_id(),
            ]
            .into_iter()
            .zip(&mut at)
            {
                if let Some(v) = v {
                    let from = ids_buf.len();
                    ids_buf.push_str(v);
                    *at = Some((from, ids_buf.len()));
                }
            }
            c.fields_shared()
        });
        let ids = at.map(|r| r.map(|(a, b)| &ids_buf[a..b]));
        self.write_sinks(
            event,
            trace,
            scratch,
            (completion, masks, typed.as_ref(), now),
            ids,
            bound.as_deref().map_or(&[], |b| &b[..]),
        );
        scratch.ids = ids_buf;
        scratch.shrink();
    }

    /// Writes `event`'s line to every sink that takes it, with the bound `ids` (correlation,
    /// tenant, user, connection) and `bound` fields of its context, and the canonical keys the
    /// line carries reserved: no field of the event may take them.
    fn write_sinks(
        &self,
        event: &Event<'_>,
        trace: Option<&crate::trace::TraceIds>,
        scratch: &mut Scratch,
        (completion, masks, typed, now): (bool, Masks, Option<&crate::completion::Typed>, u64),
        ids: [Option<&str>; 4],
        bound: &[(std::sync::Arc<str>, std::sync::Arc<str>)],
    ) {
        let meta = event.metadata();
        let mut bound_renamed = [false; context::MAX_BOUND_FIELDS];
        // The reserved keys matter only to the visitor's fields: a typed completion head with no
        // other field and no bound field (its keys are written first, and no canonical key is
        // `duration_ms` or `outcome`) has none, and skips building the list.
        // A completion that may take the own-fields route (see `write_line`) builds them only
        // if it falls back to the general path.
        let mut reserved_buf;
        let reserved: Option<&[&str]> = if bound.is_empty() && typed.is_some_and(|t| t.only) {
            Some(&[])
        } else if bound.is_empty() && typed.is_some_and(own_route) {
            None
        } else {
            reserved_buf = [""; line::CANONICAL + context::MAX_BOUND_FIELDS];
            let mut n = canonical_keys(&mut reserved_buf, ids, trace.is_some());
            // Bound fields follow the canonical keys; one that a canonical key already takes (a
            // bound `connection_id` inside a WebSocket connection) is written `<key>_1`.
            for ((k, _), renamed) in bound.iter().zip(bound_renamed.iter_mut()) {
                if reserved_buf[..n].contains(&&**k) {
                    *renamed = true;
                } else if n < reserved_buf.len() {
                    reserved_buf[n] = k;
                    n += 1;
                }
            }
            Some(&reserved_buf[..n])
        };
        // The keys of a typed completion head (`duration_ms`, `outcome`) are free unless a bound
        // field takes one (no canonical key does): then they are written with no collision check.
        let typed = typed.map(|t| {
            let free = bound.iter().all(|(k, _)| {
                &**k != crate::completion::DURATION_MS && &**k != crate::completion::OUTCOME
            });
            (t, free)
        });
        let routed = if self.routes.is_empty() {
            None
        } else {
            self.route_of(meta.target())
        };
        let head = Head {
            now,
            level: meta.level(),
            event: "",
            target: meta.target(),
            message: None,
            ids,
            bound,
            bound_renamed: &bound_renamed[..bound.len().min(bound_renamed.len())],
            trace,
            color: false,
            fixed: None,
            done: None,
            max_value: self.max_value,
            max_line: self.max_line,
        };
        for sink in &self.sinks {
            if !sink.route.takes(routed) {
                continue;
            }
            let (line, truncated) = match sink.format {
                Format::Json => self.write_line::<Json>(
                    event,
                    &head,
                    sink,
                    (completion, masks, typed),
                    reserved,
                    scratch,
                ),
                Format::Console => self.write_line::<Console>(
                    event,
                    &head,
                    sink,
                    (completion, masks, typed),
                    reserved,
                    scratch,
                ),
            };
            if truncated {
                line::TRUNCATED.fetch_add(1, Ordering::Relaxed);
            }
            // One whole line per write: lines are never split or interleaved.
            sink.writer.write_line(line);
        }
    }

    /// Collects `event`'s fields for the format `F` and assembles the line of `sink` in the
    /// scratch buffers; returns the line and whether it was cut.
    fn write_line<'s, F: LineFormat>(
        &self,
        event: &Event<'_>,
        head: &Head<'_>,
        sink: &Sink,
        (completion, masks, typed): (bool, Masks, Option<(&crate::completion::Typed, bool)>),
        reserved: Option<&[&str]>,
        scratch: &'s mut Scratch,
    ) -> (&'s [u8], bool) {
        let Scratch {
            line,
            rest,
            text,
            event: ev_buf,
            message: msg_buf,
            tmp,
            members,
            ids: _,
            masks: _,
        } = scratch;
        line.clear();
        rest.clear();
        text.clear();
        members.clear();
        // A typed completion with a short event name: its level, event and target are the same
        // on every line of its callsite, rendered once (JSON).
        let fixed = typed
            .filter(|(t, _)| t.event.len() <= EVENT_MAX)
            .and_then(|(t, _)| Some((t.event, t.head?)))
            .and_then(|(event, slot)| F::fixed_head(slot, head.level, event, head.target));
        // The direct route: a typed completion with nothing besides its head (no error, no
        // recorded or bound field) is written with no visitor and no member list, its
        // `duration_ms` and `outcome` straight into the line. Such a line cannot reach the line
        // bound (every part of it is bounded, far below the smallest bound accepted), so it is
        // the line the member list would give (`tests::the_direct_route_writes_the_member_line`).
        if let Some((t, _)) = typed
            && t.only
            && t.event.len() <= EVENT_MAX
            && head.bound.is_empty()
        {
            let head = Head {
                event: t.event,
                color: sink.color,
                fixed,
                done: t.done,
                ..*head
            };
            let truncated = F::write_line(&head, line, text, rest, members);
            return (line, truncated);
        }
        // The own-fields route: a typed completion whose only other field is the `fields` text
        // its call rendered with its site's keys, none of which a key of the line can take (no
        // bound field, no name of `line::LINE_KEYS`). Its `duration_ms` and `outcome` are
        // written straight, as on the direct route; its recorded fields are copied from the
        // site's rendered keys, with no collision check and no decoding of keys, their values
        // read strictly. Any other text (members appended after the site's by `ret`, a key
        // that differs) takes the general path below, which gives the same line for the same
        // text (`tests::the_own_fields_route_writes_the_member_line`).
        if F::KEY_STYLE == line::Style::Json
            && let Some((t, _)) = typed
            && own_route(t)
            && t.event.len() <= EVENT_MAX
            && head.bound.is_empty()
            && let Some(keys) = t.keys
        {
            // The text the call lent to the thread for this dispatch (no visitor).
            let copied = crate::completion::with_dispatched_text(|text| {
                line::copy_own_fields::<F>(rest, members, text, self.max_value, tmp, keys)
            });
            if copied == Some(true) {
                let head = Head {
                    event: t.event,
                    color: sink.color,
                    fixed,
                    done: t.done,
                    ..*head
                };
                let truncated = F::write_line(&head, line, text, rest, members);
                return (line, truncated);
            }
        }
        // The canonical keys, when the caller left them to the own-fields route (no bound field).
        let mut reserved_buf = [""; line::CANONICAL];
        let reserved = match reserved {
            Some(r) => r,
            None => {
                let n = canonical_keys(&mut reserved_buf, head.ids, head.trace.is_some());
                &reserved_buf[..n]
            }
        };
        let mut c = Collected::<F> {
            format: PhantomData,
            rest,
            members,
            reserved,
            event: ev_buf,
            has_event: false,
            message: msg_buf,
            has_message: false,
            tmp,
            max: self.max_value,
            completion,
            production: self.production,
            masks,
            typed: false,
            keys: None,
        };
        // The typed head of observa's own completion event is written as it is (no visitor for
        // it); the visitor still runs for the rest (error, error_type, fields) when present.
        let mut short_event = None;
        match typed {
            Some((t, free)) => {
                c.typed(t.done, free);
                c.keys = t.keys;
                if t.event.len() <= EVENT_MAX {
                    short_event = Some(t.event);
                } else {
                    c.event.clear();
                    crate::encode::text::push_bounded(c.event, t.event, EVENT_MAX);
                    c.has_event = true;
                }
                if !t.only {
                    event.record(&mut c);
                }
            }
            None => event.record(&mut c),
        }
        let (has_event, has_message) = (c.has_event, c.has_message);
        let head = Head {
            event: match short_event {
                Some(e) => e,
                None if has_event => ev_buf,
                None => "log",
            },
            message: has_message.then_some(msg_buf.as_str()),
            color: sink.color,
            fixed: fixed.filter(|_| short_event.is_some()),
            ..*head
        };
        let truncated = F::write_line(&head, line, text, rest, members);
        (line, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn head<'a>(
        level: &'a Level,
        event: &'a str,
        target: &'a str,
        ids: [Option<&'a str>; 4],
        max_value: usize,
    ) -> Head<'a> {
        Head {
            now: 1_795_000_000_123_456_789,
            level,
            event,
            target,
            message: None,
            ids,
            bound: &[],
            bound_renamed: &[],
            trace: None,
            color: false,
            fixed: None,
            done: None,
            max_value,
            max_line: json::MIN_MAX_LINE_BYTES,
        }
    }

    /// A written line and whether it was cut.
    type Line = (String, bool);

    /// The line of `h` with the recorded `fields` text `src` of a site with `keys`: through
    /// the general path (the typed head as members, then the strict reader with every canonical
    /// key of the line reserved) and through the own-fields route (the head written straight,
    /// the site's keys copied as they are); `None` for a route that refuses the text.
    fn general_and_own(
        h: &Head<'_>,
        done: (f64, &str),
        src: &str,
        keys: &crate::completion::FieldKeys,
    ) -> (Option<Line>, Option<Line>) {
        let mut buf = [""; line::CANONICAL];
        let n = canonical_keys(&mut buf, h.ids, h.trace.is_some());
        let reserved = &buf[..n];
        let (max, mut tmp) = (h.max_value, String::new());
        let (mut rest, mut members) = typed_members::<Json>(h, done, reserved);
        let general =
            line::copy_fields::<Json>(&mut rest, reserved, &mut members, src, max, &mut tmp, None)
                .then(|| line_of::<Json>(h, &rest, &members));
        let (mut rest, mut members) = (Vec::new(), Vec::new());
        let own = line::copy_own_fields::<Json>(&mut rest, &mut members, src, max, &mut tmp, keys)
            .then(|| {
                let h = Head {
                    done: Some(done),
                    ..*h
                };
                line_of::<Json>(&h, &rest, &members)
            });
        (general, own)
    }

    /// The own-fields route gives the line of the general path (the strict reader with every
    /// canonical key of the line reserved), byte for byte, cut or not, for the text of every
    /// site whose keys it takes (plain names no line key can take: `free`), with any values
    /// (escaped, with URL credentials, past the value bound, nested with repeated keys), at the
    /// smallest line bound and the largest, with and without ids; and refuses every other text
    /// (keys that differ, members appended after the site's, a cut text), which the general
    /// path then reads.
    #[test]
    fn the_own_fields_route_writes_the_member_line() {
        use crate::completion::FieldKeys;
        static SITE: &[&str] = &["order_id", "amount", "note", "qty", "r#type"];
        assert!(FieldKeys::new(SITE).free());
        for key in line::LINE_KEYS {
            let taken: &'static [&'static str] =
                Box::leak(vec!["order_id", key].into_boxed_slice());
            assert!(
                !FieldKeys::new(taken).free(),
                "{key}: a line key is not free"
            );
        }
        assert!(
            !FieldKeys::new(&["a", "b", "a"]).free(),
            "repeated names are not free"
        );
        assert!(
            !FieldKeys::new(&["a b\"c"]).free(),
            "a name to escape is not free"
        );
        let keys = FieldKeys::new(SITE);
        let big = format!("\"{}\"", "y".repeat(20_000));
        let values = [
            "7",
            "-2.5e3",
            "true",
            "null",
            "\"plain\"",
            "\"https://u:secret@h/x?token=abc\"",
            "\"\\u200bx\\\"y\\ud83d\\ude00\"",
            &big,
            "{\"k\":1,\"k\":[2,{\"k\":3}]}",
            "[1,\"a=b\",[]]",
        ];
        let ids = [
            Some("532ead2958b5a2c4b7e70276f0c7cbd3"),
            Some("acme"),
            Some("u-1"),
            None,
        ];
        let level = Level::INFO;
        let (mut own_lines, mut cut_lines) = (0, 0);
        for (i, _) in values.iter().enumerate() {
            let text = keys.text_of(|k| values[(i + k) % values.len()]);
            let appended = format!("{},\"return\":1}}", &text[..text.len() - 1]);
            let differs = text.replacen("amount", "amounts", 1);
            for (max_line, max_value) in [(json::MIN_MAX_LINE_BYTES, 1 << 20), (1 << 20, 64)] {
                for ids in [ids, [None; 4]] {
                    let mut h = head(
                        &level,
                        "sync_job.completed",
                        "billing::jobs",
                        ids,
                        max_value,
                    );
                    h.max_line = max_line;
                    let (general, own) = general_and_own(&h, (1.5, "success"), &text, &keys);
                    assert!(own.is_some(), "{text}");
                    assert_eq!(own, general, "{text}");
                    own_lines += 1;
                    cut_lines += usize::from(own.is_some_and(|(_, cut)| cut));
                    for other in [&appended, &differs, &text[..text.len() - 1]] {
                        let (_, own) = general_and_own(&h, (1.5, "success"), other, &keys);
                        assert!(own.is_none(), "{other}");
                    }
                }
            }
        }
        assert_eq!(own_lines, values.len() * 4);
        assert!(cut_lines > 0, "some lines reach the line bound");
    }

    /// The line of `h` with its typed members written as a member list (`Collected::typed`,
    /// then the format's member copy), and written straight ([`Head::done`], the direct route),
    /// each with whether it was cut.
    fn member_and_direct<F: LineFormat>(h: &Head<'_>, done: (f64, &str)) -> (Line, Line) {
        let (rest, members) = typed_members::<F>(h, done, &[]);
        let listed = line_of::<F>(h, &rest, &members);
        let direct = Head {
            done: Some(done),
            ..*h
        };
        (listed, line_of::<F>(&direct, &[], &[]))
    }

    /// A typed completion's head written as members (`Collected::typed`, the general path),
    /// with `reserved` taken: the members' text and list.
    fn typed_members<F: LineFormat>(
        h: &Head<'_>,
        done: (f64, &str),
        reserved: &[&str],
    ) -> (Vec<u8>, Vec<line::Member>) {
        let (mut rest, mut members) = (Vec::new(), Vec::new());
        let (mut event, mut message, mut tmp) = (String::new(), String::new(), String::new());
        let mut c = Collected::<F> {
            format: PhantomData,
            rest: &mut rest,
            members: &mut members,
            reserved,
            event: &mut event,
            has_event: false,
            message: &mut message,
            has_message: false,
            tmp: &mut tmp,
            max: h.max_value,
            completion: true,
            production: false,
            masks: Masks::NONE,
            typed: false,
            keys: None,
        };
        c.typed(Some(done), true);
        (rest, members)
    }

    /// The line the format `F` writes for `h` and the members, and whether it was cut.
    fn line_of<F: LineFormat>(h: &Head<'_>, rest: &[u8], members: &[line::Member]) -> Line {
        let (mut line, mut text) = (Vec::new(), Vec::new());
        let cut = F::write_line(h, &mut line, &mut text, rest, members);
        (String::from_utf8(line).unwrap(), cut)
    }

    #[test]
    fn the_direct_route_writes_the_member_line() {
        // Every part of the line at its bound, every byte escaped at its widest (a control
        // character is six bytes in both formats), the smallest line bound accepted: the
        // direct route assumes such a line is never cut.
        let wide = "\u{1}".repeat(EVENT_MAX);
        let wide_id = "\u{1}".repeat(256);
        type Case<'a> = (&'a str, &'a str, [Option<&'a str>; 4], (f64, &'a str));
        let cases: [Case<'_>; 3] = [
            (
                "sync_job.completed",
                "billing::jobs",
                [
                    Some("532ead2958b5a2c4b7e70276f0c7cbd3"),
                    Some("acme"),
                    None,
                    None,
                ],
                (0.0876, ""),
            ),
            (
                "x\"y\\z.failed",
                "t\u{202e}",
                [None, Some("ten\"ant\n"), Some("u"), Some("c")],
                (12.0005, ""),
            ),
            (
                &wide,
                &wide,
                [
                    Some(&wide_id),
                    Some(&wide_id),
                    Some(&wide_id),
                    Some(&wide_id),
                ],
                (1e13, ""),
            ),
        ];
        let outcomes = crate::outcome::Outcome::ALL.map(crate::outcome::Outcome::as_str);
        // Every outcome word, and text that is not one (escaped, quoted, bounded as any text).
        let words = outcomes
            .iter()
            .chain(&["", "Ok", "a b", "x\"y", "much_too_long_for_a_word"]);
        for ((event, target, ids, done), word) in cases.into_iter().cycle().zip(words) {
            let done = (done.0, *word);
            for level in [Level::INFO, Level::ERROR] {
                let h = head(&level, event, target, ids, 1 << 20);
                let (listed, direct) = member_and_direct::<Json>(&h, done);
                assert_eq!(direct, listed);
                assert!(!direct.1, "cut: {}", direct.0.len());
                let v: serde_json::Value = serde_json::from_str(&direct.0).unwrap();
                assert_eq!(v["outcome"], done.1, "{}", direct.0);
                let (listed, direct) = member_and_direct::<Console>(&h, done);
                assert_eq!(direct, listed);
                assert!(!direct.1, "cut: {}", direct.0.len());
                assert!(direct.0.contains(" outcome="), "{}", direct.0);
            }
        }
    }

    /// `write_outcome` skips the escaping pass for outcome words: the bytes must be the ones
    /// the format's text writer gives them (both formats, the smallest value bound and a larger
    /// one), and anything else goes through the text writer.
    #[test]
    fn outcome_words_are_written_as_text_writes_them() {
        fn check<F: LineFormat>(w: &str, max: usize) {
            let (mut word, mut text) = (Vec::new(), Vec::new());
            super::super::format::write_outcome::<F>(&mut word, w, max);
            F::text(&mut text, w, max);
            assert_eq!(
                String::from_utf8(word),
                String::from_utf8(text),
                "{w:?} at {max}"
            );
        }
        let outcomes = crate::outcome::Outcome::ALL.map(crate::outcome::Outcome::as_str);
        let others = [
            "",
            "Ok",
            "a b",
            "x\"y",
            "\u{1b}[31m",
            "much_too_long_for_a_word",
            "é",
        ];
        for w in outcomes.iter().chain(&others) {
            for max in [16, 256] {
                check::<Json>(w, max);
                check::<Console>(w, max);
            }
        }
    }

    #[test]
    fn the_fixed_head_is_the_head_the_line_writes() {
        for (event, target) in [
            ("sync_job.completed", "billing::jobs"),
            ("q\"uo\\te\u{7}.failed", "t\u{200b}::\u{1b}[31m"),
            (&*"é".repeat(EVENT_MAX / 2), &*"\u{1}".repeat(300)),
        ] {
            for level in [Level::DEBUG, Level::WARN] {
                let slot: &'static crate::completion::HeadSlot =
                    Box::leak(Box::new(crate::completion::HeadSlot::new()));
                let h = head(&level, event, target, [Some("c"), None, None, None], 64);
                let fixed = Json::fixed_head(slot, &level, event, target).unwrap();
                let again = Json::fixed_head(slot, &level, event, target).unwrap();
                assert!(std::ptr::eq(fixed, again), "rendered once");
                let (mut plain, mut with_fixed) = (Vec::new(), Vec::new());
                Json::write_line(&h, &mut plain, &mut Vec::new(), &[], &[]);
                let hf = Head {
                    fixed: Some(fixed),
                    ..h
                };
                Json::write_line(&hf, &mut with_fixed, &mut Vec::new(), &[], &[]);
                assert_eq!(
                    String::from_utf8(with_fixed).unwrap(),
                    String::from_utf8(plain).unwrap()
                );
                assert!(Console::fixed_head(slot, &level, event, target).is_none());
            }
        }
    }
}
