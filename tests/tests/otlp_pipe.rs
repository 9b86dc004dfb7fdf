//! observa's own spans reach the batch processor through a pipe and a thread of their own
//! (`observa-spans`, `runtime/src/trace/own.rs`): the thread runs while the pipeline is
//! installed (a second `init` that fails leaves it running) and ends with the guard, and every
//! span ended before the guard drops is exported, past the pipe's high-water mark too (a real
//! local collector, decoded with the official definitions). Not covered here, because it needs
//! two `init` calls racing: a provider that loses the claim only shuts its own pipe down
//! (`own::shared_for`).

use observa::observed;

mod otlp_support;
use otlp_support::{attr, by_name};

#[observed(event = "pipe.call", tenant)]
fn call(tenant: &str, i: u64) -> u64 {
    let _ = tenant;
    i + 1
}

/// Threads of this process named `observa-spans`.
fn pipe_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == "observa-spans")
        .count()
}

#[test]
fn a_second_init_that_fails_leaves_the_span_pipe_running() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    let config = || {
        let mut cfg = observa::Config::new("pipe-test").with_writer(observa::MemoryWriter::new());
        cfg.otlp_endpoint = Some(format!("http://{addr}"));
        cfg
    };
    let guard = observa::init(config()).unwrap();
    assert_eq!(pipe_threads(), 1);
    assert!(observa::init(config()).is_err());
    assert_eq!(
        pipe_threads(),
        1,
        "the losing provider's shutdown stopped the pipeline's thread"
    );
    for i in 0..600 {
        assert_eq!(call("acme", i), i + 1);
    }
    drop(guard);
    assert_eq!(pipe_threads(), 0, "the thread ends with the guard");

    let spans = otlp_support::spans(&bodies);
    let calls = by_name(&spans, "pipe.call");
    assert_eq!(
        calls.len(),
        600,
        "every span ended before the guard dropped"
    );
    assert!(
        calls
            .iter()
            .all(|s| attr(&s.attributes, "tenant_id").as_deref() == Some("acme"))
    );
}
