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
    LOGS.get_or_init(|| {
        let w = observa::MemoryWriter::new();
        let guard = observa::init(
            observa::Config::new(service)
                .with_writer(w.clone())
                .with_log_level(level),
        )
        .expect("init");
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
