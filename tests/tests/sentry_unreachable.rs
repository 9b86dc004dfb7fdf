//! An unreachable Sentry endpoint (a closed port on 127.0.0.1) never blocks or crashes the
//! application: the capture returns at once, and the envelope that could not be sent is counted
//! in `observa_sentry_failed_total{reason="network"}`.

use observa::observed;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Down;

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("down")
    }
}

impl std::error::Error for Down {}

#[observed(event = "unreachable.call")]
fn failing() -> Result<(), Down> {
    Err(Down)
}

#[test]
fn a_closed_port_is_counted_and_never_blocks() {
    // A port that was free a moment ago and has no listener now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let guard = observa::init(
        observa::Config::new("unreachable")
            .with_writer(observa::MemoryWriter::new())
            .with_sentry_dsn(format!("http://k@127.0.0.1:{port}/1")),
    )
    .expect("init");
    assert!(observa::sentry::is_enabled());
    // The application's calls return (their values unchanged) whatever the endpoint does.
    assert!(failing().is_err());
    assert!(observa::sentry::capture_message(
        "hello",
        tracing::Level::ERROR
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while observa::sentry::stats().failed < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = observa::sentry::stats();
    assert_eq!(stats.failed, 2, "{stats:?}");
    assert_eq!(stats.sent, 0);
    let text = observa::metrics::render();
    assert!(
        text.contains("observa_sentry_failed_total{reason=\"network\"} 2"),
        "{text}"
    );
    // Dropping the guard (flush with a bound, close) returns too.
    drop(guard);
}
