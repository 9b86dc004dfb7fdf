//! `OBSERVA_SENTRY_SAMPLE_RATE=0`: Sentry is installed, the captures are accepted, and nothing
//! reaches the endpoint (a real HTTP server on 127.0.0.1 that records every request), while the
//! default rate (1.0) would have sent them.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn a_zero_sample_rate_sends_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            );
        }
    });
    // Read from the process environment, as a deployment sets it.
    // SAFETY: this test binary has one test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("OBSERVA_SENTRY_DSN", format!("http://k@{addr}/3"));
        std::env::set_var("OBSERVA_SENTRY_SAMPLE_RATE", "0");
    }
    let config = observa::Config::from_env()
        .unwrap()
        .with_writer(observa::MemoryWriter::new());
    assert_eq!(config.sentry_sample_rate, 0.0);
    let guard = observa::init(config).expect("init");
    assert!(observa::sentry::is_enabled());
    for i in 0..20 {
        assert!(observa::sentry::capture_message(
            &format!("sampled out {i}"),
            tracing::Level::ERROR
        ));
    }
    assert!(observa::sentry::flush(Duration::from_secs(10)));
    drop(guard);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(observa::sentry::stats().sent, 0);
}
