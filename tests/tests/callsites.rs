//! The `tracing` callsites of an `#[observed]` site, created on the site's first use
//! (`runtime/src/callsite/site.rs`) instead of const-evaluated in its `static`: what
//! subscribers see of them is what a `static` callsite gave them. Their metadata (name, target,
//! file, line, module, level, fields), and an interest rebuilt when a new dispatcher arrives.
//! (A subscriber whose `register_callsite` runs code that registers further callsites while
//! another dispatcher exists can wait on `tracing-core`'s own dispatcher lock, with `tracing`'s
//! callsites as with these: not a case a callsite can change. The run-time callsites' own lock is
//! kept out of that path by registering every site at once: `callsite::site::register_all`.)

use observa::observed;
use std::sync::{Arc, Mutex};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};

/// What a subscriber saw of one span or event.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    span: bool,
    name: &'static str,
    target: &'static str,
    file: Option<&'static str>,
    line: Option<u32>,
    module: Option<&'static str>,
    level: tracing::Level,
    fields: Vec<&'static str>,
    /// The `event` value of a completion event.
    event: Option<String>,
}

/// Records every span and event; `register_callsite` and `enabled` answer `interest`.
#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    interest: fn() -> Interest,
}

impl Recorder {
    fn new(interest: fn() -> Interest) -> Recorder {
        Recorder {
            seen: Arc::default(),
            interest,
        }
    }

    fn push(&self, meta: &'static Metadata<'static>, event: Option<String>) {
        self.seen.lock().unwrap().push(Seen {
            span: meta.is_span(),
            name: meta.name(),
            target: meta.target(),
            file: meta.file(),
            line: meta.line(),
            module: meta.module_path(),
            level: *meta.level(),
            fields: meta.fields().iter().map(|f| f.name()).collect(),
            event,
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

struct EventName(Option<String>);

impl tracing::field::Visit for EventName {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "event" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl Subscriber for Recorder {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        (self.interest)()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        (self.interest)().is_always()
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.push(attrs.metadata(), None);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut name = EventName(None);
        event.record(&mut name);
        self.push(event.metadata(), name.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The line of `meta_site`'s attribute.
const META_LINE: u32 = line!() + 1;
#[observed(
    event = "cs.meta",
    level = "debug",
    target = "callsites.custom",
    fields(n)
)]
fn meta_site(n: u64) -> Result<u64, std::io::Error> {
    if n == 0 {
        return Err(std::io::Error::other("zero"));
    }
    Ok(n)
}

#[test]
fn the_span_and_completion_events_carry_the_sites_metadata() {
    let rec = Recorder::new(Interest::always);
    tracing::subscriber::with_default(rec.clone(), || {
        assert_eq!(meta_site(3).unwrap(), 3);
        assert!(meta_site(0).is_err());
    });
    let seen = rec.seen();
    let span = seen
        .iter()
        .find(|s| s.span)
        .unwrap_or_else(|| panic!("no span in {seen:#?}"));
    assert_eq!(span.name, "cs.meta");
    assert_eq!(span.target, "callsites.custom");
    assert_eq!(span.level, tracing::Level::DEBUG);
    assert_eq!(span.file, Some(file!()));
    assert_eq!(span.module, Some(module_path!()));
    let line = span.line.expect("a line");
    assert!(
        (META_LINE..META_LINE + 2).contains(&line),
        "span line {line}, attribute at {META_LINE}"
    );
    assert_eq!(
        span.fields,
        [
            "correlation_id",
            "tenant_id",
            "user_id",
            "n",
            "outcome",
            "error",
            "otel.status_code"
        ]
    );
    // The success at the site's level, the failure (a server error) at ERROR: two of the
    // site's four completion callsites, each with the site's place and the completion fields.
    let completed = seen
        .iter()
        .find(|s| s.event.as_deref() == Some("cs.meta.completed"))
        .unwrap_or_else(|| panic!("no completion in {seen:#?}"));
    let failed = seen
        .iter()
        .find(|s| s.event.as_deref() == Some("cs.meta.failed"))
        .unwrap_or_else(|| panic!("no failure in {seen:#?}"));
    assert_eq!(completed.level, tracing::Level::DEBUG);
    assert_eq!(failed.level, tracing::Level::ERROR);
    for e in [completed, failed] {
        assert!(!e.span);
        assert_eq!(e.name, observa::completion::COMPLETION);
        assert_eq!(e.target, "callsites.custom");
        assert_eq!(
            (e.file, e.line, e.module),
            (span.file, span.line, span.module)
        );
        assert_eq!(e.fields, observa::completion::COMPLETION_FIELDS);
    }
}

#[observed(event = "cs.rebuild")]
fn rebuild_site() -> u64 {
    7
}

#[test]
fn a_site_first_seen_by_a_subscriber_that_wants_nothing_is_seen_by_the_next_one() {
    // The site registers its callsites under a subscriber that wants none of them (their
    // interest cached as `never`), then a new dispatcher arrives: `tracing` rebuilds the interest
    // of every registered callsite, these too, and the next subscriber sees the span and the
    // completion.
    let deaf = Recorder::new(Interest::never);
    tracing::subscriber::with_default(deaf.clone(), || {
        assert_eq!(rebuild_site(), 7);
    });
    assert!(deaf.seen().is_empty(), "{:#?}", deaf.seen());
    let rec = Recorder::new(Interest::always);
    tracing::subscriber::with_default(rec.clone(), || {
        assert_eq!(rebuild_site(), 7);
    });
    let seen = rec.seen();
    assert!(
        seen.iter().any(|s| s.span && s.name == "cs.rebuild"),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.event.as_deref() == Some("cs.rebuild.completed")),
        "{seen:#?}"
    );
}
