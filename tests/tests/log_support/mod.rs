//! Log capture shared by the integration tests: `observa::init` once per test binary with the
//! stdout sink sent to memory, and the JSON lines read back (the writer is asynchronous, so
//! readers wait until what they expect is there, or a deadline passes).

#![allow(dead_code)]

use serde_json::Value;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static LOGS: OnceLock<observa::MemoryWriter> = OnceLock::new();

/// Installs observa for this process (once) as `service` with filter `level`.
pub fn capture(service: &str, level: &str) -> &'static observa::MemoryWriter {
    capture_config(observa::Config::new(service).with_log_level(level))
}

/// Installs observa for this process (once) with `config`, its stdout sink sent to memory.
pub fn capture_config(config: observa::Config) -> &'static observa::MemoryWriter {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(config.with_writer(w.clone())).expect("init");
        // Keep the writer alive for the whole test binary.
        std::mem::forget(guard);
        w
    })
}

/// Installs observa for this process (once) with `config` and the stdout sink sent to memory
/// (for tests of a non-default configuration, such as production).
pub fn capture_with(config: observa::Config) -> &'static observa::MemoryWriter {
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(config.with_writer(w.clone())).expect("init");
        std::mem::forget(guard);
        w
    })
}

/// Everything written so far.
pub fn raw() -> String {
    LOGS.get().expect("capture() first").contents()
}

/// Every line so far, parsed (a line that is not JSON fails the test).
pub fn json_lines() -> Vec<Value> {
    raw()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// The lines matching `filter`, once `pred` holds for them (or after 10 s).
pub fn wait_lines(filter: impl Fn(&Value) -> bool, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<Value> = json_lines().into_iter().filter(|v| filter(v)).collect();
        if pred(&got) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Parses `text` as JSON like `serde_json`, but fails when any object in it (at any depth) has
/// a key twice: `serde_json::Value` silently keeps the last one, as many log parsers do.
pub fn parse_unique(text: &str) -> Result<Value, String> {
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Unique(Value);
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Unique;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<Unique, E> {
            Ok(Unique(v.into()))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<Unique, E> {
            Ok(Unique(v.into()))
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Unique, E> {
            Ok(Unique(v.into()))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<Unique, E> {
            Ok(Unique(v.into()))
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Unique, E> {
            Ok(Unique(v.into()))
        }
        fn visit_unit<E: Error>(self) -> Result<Unique, E> {
            Ok(Unique(Value::Null))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
            let mut v = Vec::new();
            while let Some(Unique(x)) = seq.next_element()? {
                v.push(x);
            }
            Ok(Unique(Value::Array(v)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
            let mut m = serde_json::Map::new();
            while let Some(k) = map.next_key::<String>()? {
                if m.contains_key(&k) {
                    return Err(A::Error::custom(format!("duplicate key `{k}`")));
                }
                let Unique(v) = map.next_value()?;
                m.insert(k, v);
            }
            Ok(Unique(Value::Object(m)))
        }
    }
    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
            d.deserialize_any(V)
        }
    }
    serde_json::from_str::<Unique>(text)
        .map(|u| u.0)
        .map_err(|e| format!("{e}: {text}"))
}

/// The first line containing `marker`, once it is there (or a panic after 10 s).
pub fn line_with(marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(l) = raw().lines().find(|l| l.contains(marker)) {
            return l.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {marker:?} in\n{}",
            raw()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value of the counter `name` in the exposition (0 when absent).
pub fn counter(name: &str) -> f64 {
    observa::metrics::render()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The value of the first exposition line of `text` that starts with `line_start` (a series
/// with its labels); panics with the exposition when there is none.
pub fn sample(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no `{line_start}` in:\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The ids and bound fields of the running code's context, owned (for comparing scopes).
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Seen {
    pub tenant: Option<String>,
    pub user: Option<String>,
    pub correlation: Option<String>,
    pub fields: Vec<(String, String)>,
}

/// A snapshot of [`observa::context::current`].
pub fn seen() -> Seen {
    let c = observa::context::current();
    Seen {
        tenant: c.tenant_id().map(str::to_owned),
        user: c.user_id().map(str::to_owned),
        correlation: c.correlation_id().map(str::to_owned),
        fields: c
            .fields()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    }
}

/// True for the characters no sink may write raw (C0/C1, DEL, U+2028/9, bidi controls,
/// zero-width characters, U+FEFF, tags): the list of DESIGN.md section 7, kept here on its own
/// so the tests do not trust the library's.
pub fn forbidden(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7f..=0x9f).contains(&u)
        || matches!(
            u,
            0x061c
                | 0x200b..=0x200f
                | 0x2028..=0x202e
                | 0x2060
                | 0x2066..=0x2069
                | 0xfeff
                | 0xe0000..=0xe007f
        )
}

/// A future that is pending once (waking itself), then ready.
pub struct YieldOnce(pub bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Polls `f` once, with a waker that does nothing.
pub fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// The message of a caught panic (`String` or `&str` payloads; empty otherwise).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}
