//! Settings read from the environment reach the subsystems: `OBSERVA_LOG_QUEUE` bounds the
//! writer queue (lines dropped and counted), `OBSERVA_METRICS_MAX_SERIES` caps label sets per
//! family (overflow series), `OBSERVA_OTLP_SAMPLE_RATIO` decides which traces are exported. Each
//! value differs from its default (65536, 1000, 1.0), whose behaviour the assertions would fail.

mod otlp_support;

use std::io::Write;
use std::sync::{Arc, Barrier};

/// A writer that blocks until released: the queue behind it fills up.
struct Stalled(Arc<Barrier>, bool);

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.1 {
            self.0.wait();
            self.1 = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tracing::instrument]
fn traced_work(x: u64) -> u64 {
    x + 1
}

#[test]
fn queue_series_cap_and_sample_ratio_come_from_the_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, bodies) = otlp_support::collector(&rt);
    // SAFETY: this test binary has one test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("OBSERVA_SERVICE_NAME", "env-values");
        std::env::set_var("OBSERVA_LOG_QUEUE", "16");
        std::env::set_var("OBSERVA_METRICS_MAX_SERIES", "3");
        std::env::set_var("OBSERVA_OTLP_SAMPLE_RATIO", "0");
        std::env::set_var("OBSERVA_OTLP_ENDPOINT", format!("http://{addr}"));
    }
    let release = Arc::new(Barrier::new(2));
    let cfg = observa::Config::from_env()
        .unwrap()
        .with_writer(Stalled(release.clone(), false));
    assert_eq!(cfg.log_queue_lines, 16);
    assert_eq!(cfg.metrics_max_series, 3);
    assert_eq!(cfg.otlp_sample_ratio, 0.0);
    let guard = observa::init(cfg).unwrap();

    // Queue of 16 lines: with the writer stalled, most of 1,000 lines are dropped and counted
    // (the default queue of 65,536 lines would keep them all).
    for i in 0..1000u32 {
        tracing::info!(i, "line");
    }
    // Cap of 3 label sets: the 4th and 5th go to the overflow series (default cap: 1000).
    let family =
        observa::metrics::CounterFamily::new("env_cap_total", "cap from the environment", &["k"])
            .unwrap();
    for k in ["a", "b", "c", "d", "e"] {
        family.get(&[k]).inc();
    }
    // Ratio 0: no trace is sampled, so nothing is exported (the default 1.0 exports this span;
    // tests/otlp.rs shows the same collector receiving spans at ratio 1).
    assert_eq!(traced_work(1), 2);

    let text = observa::metrics::render();
    let families = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    let value = |name: &str, label: Option<(&str, &str)>| {
        families
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum::<f64>()
    };
    let dropped = value("observa_log_dropped_total", None);
    assert!(dropped >= 700.0, "dropped {dropped}");
    assert_eq!(
        value("env_cap_total", Some(("k", observa::metrics::OVERFLOW))),
        2.0
    );
    assert_eq!(value("env_cap_total", Some(("k", "c"))), 1.0);
    assert_eq!(value("env_cap_total", Some(("k", "d"))), 0.0);

    release.wait();
    drop(guard); // shuts the exporter down: every sampled span has been sent
    assert!(
        otlp_support::spans(&bodies).is_empty(),
        "a span was exported at ratio 0"
    );
    drop(rt);
}
