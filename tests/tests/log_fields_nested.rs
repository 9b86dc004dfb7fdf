//! A completion line's recorded fields while another layer calls instrumented functions from
//! inside the dispatch of that line: before observa's layer writes it and after. Observa lends
//! the text of the line it dispatches to the thread so its own layer reads it without visiting
//! the event; a line dispatched inside that dispatch must carry its own fields, and the outer
//! line its own, each exactly once. The inner functions record fields of the same names, in
//! the same order, as the outer one: only the values tell the lines apart.

use observa::observed;
use serde_json::Value;
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// A layer that calls `call` from inside the dispatch of every `outer.completed` line.
struct Nesting(fn(u64));

struct EventName(Option<String>);

impl Visit for EventName {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "event" {
            self.0 = Some(v.to_owned());
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Nesting {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut n = EventName(None);
        e.record(&mut n);
        if n.0.as_deref() == Some("outer.completed") {
            (self.0)(4242);
        }
    }
}

#[observed(event = "outer", tenant, fields(order_id, note))]
fn outer(tenant: &str, order_id: u64, note: &str) -> u64 {
    let _ = (tenant, note);
    order_id
}

#[observed(event = "inner_before", fields(order_id, note))]
fn inner_before(order_id: u64, note: &str) -> u64 {
    let _ = note;
    order_id
}

#[observed(event = "inner_after", fields(order_id, note))]
fn inner_after(order_id: u64, note: &str) -> u64 {
    let _ = note;
    order_id
}

fn before(id: u64) {
    inner_before(id + 1, "before observa's layer");
}

fn after(id: u64) {
    inner_after(id + 2, "after observa's layer");
}

static LOGS: OnceLock<observa::MemoryWriter> = OnceLock::new();

fn installed() -> &'static observa::MemoryWriter {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let (layer, guard) = observa::layer(
            observa::Config::new("nested")
                .with_writer(w.clone())
                .with_log_level("info"),
        )
        .expect("layer");
        std::mem::forget(guard);
        // One layer sees the outer line before observa's, one after it.
        let subscriber = tracing_subscriber::registry()
            .with(Nesting(before))
            .with(layer)
            .with(Nesting(after));
        tracing::subscriber::set_global_default(subscriber).expect("global");
        w
    })
}

fn lines(w: &observa::MemoryWriter, n: usize) -> Vec<(Value, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got: Vec<(Value, String)> = w
            .contents()
            .lines()
            .map(|l| (serde_json::from_str(l).expect("JSON line"), l.to_owned()))
            .collect();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn lines_written_inside_a_dispatch_carry_their_own_fields() {
    let w = installed();
    for i in 0..3u64 {
        outer("acme", 100 + i, &format!("outer note {i}"));
    }
    let got = lines(w, 9);
    let by = |name: &str| -> Vec<&(Value, String)> {
        got.iter().filter(|(v, _)| v["event"] == name).collect()
    };
    let (outers, befores, afters) = (
        by("outer.completed"),
        by("inner_before.completed"),
        by("inner_after.completed"),
    );
    assert_eq!(
        (outers.len(), befores.len(), afters.len()),
        (3, 3, 3),
        "{got:?}"
    );
    for (i, (v, raw)) in outers.iter().enumerate() {
        assert_eq!(v["order_id"], 100 + i as u64, "{raw}");
        assert_eq!(v["note"], format!("outer note {i}"), "{raw}");
        assert_eq!(v["tenant_id"], "acme", "{raw}");
        assert_eq!(raw.matches("\"order_id\"").count(), 1, "{raw}");
    }
    for (v, raw) in &befores {
        assert_eq!(v["order_id"], 4243, "{raw}");
        assert_eq!(v["note"], "before observa's layer", "{raw}");
        assert_eq!(raw.matches("\"order_id\"").count(), 1, "{raw}");
    }
    for (v, raw) in &afters {
        assert_eq!(v["order_id"], 4244, "{raw}");
        assert_eq!(v["note"], "after observa's layer", "{raw}");
        assert_eq!(raw.matches("\"order_id\"").count(), 1, "{raw}");
    }
}
