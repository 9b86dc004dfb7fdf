//! observa's Sentry transport: a bounded queue and one sender thread posting envelopes with
//! reqwest (rustls). The application only enqueues: a full queue drops and counts, a dead or
//! slow endpoint costs the sender thread, never the caller. Every envelope that did not reach
//! the endpoint with a 2xx is counted (`observa_sentry_failed_total{reason}`).

use sentry::{Envelope, Transport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Envelopes queued before dropping.
pub(crate) const QUEUE: usize = 256;

/// What happened to the envelopes handed to the transport.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

pub(crate) fn counts() -> &'static Counts {
    static C: OnceLock<Counts> = OnceLock::new();
    C.get_or_init(Counts::default)
}

fn failed_metric(reason: &'static str) {
    static F: OnceLock<Option<crate::metrics::CounterFamily>> = OnceLock::new();
    if let Some(f) = F
        .get_or_init(|| {
            crate::metrics::CounterFamily::new(
                "observa_sentry_failed_total",
                "Sentry envelopes that could not be delivered, by reason (network, rejected, queue_full)",
                &["reason"],
            )
            .ok()
        })
        .as_ref()
    {
        f.get(&[reason]).inc();
    }
}

enum Msg {
    Envelope(Box<Envelope>),
    Flush(SyncSender<()>),
}

pub(crate) struct HttpTransport {
    tx: Mutex<Option<SyncSender<Msg>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl HttpTransport {
    /// Starts the sender thread for `url` with the `X-Sentry-Auth` value `auth`.
    pub(crate) fn start(url: String, auth: String) -> std::io::Result<Arc<HttpTransport>> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let worker = std::thread::Builder::new()
            .name("observa-sentry".into())
            .spawn(move || run(rx, url, auth))?;
        Ok(Arc::new(HttpTransport {
            tx: Mutex::new(Some(tx)),
            worker: Mutex::new(Some(worker)),
        }))
    }

    fn sender(&self) -> Option<SyncSender<Msg>> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn run(rx: Receiver<Msg>, url: String, auth: String) {
    // Built on this thread: the blocking client owns a runtime of its own and must not be
    // created or dropped inside the application's async runtime.
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()
        .ok();
    for msg in rx {
        match msg {
            Msg::Flush(done) => {
                let _ = done.try_send(());
            }
            Msg::Envelope(env) => {
                let c = counts();
                let mut body = Vec::with_capacity(1024);
                let ok = env.to_writer(&mut body).is_ok()
                    && client.as_ref().is_some_and(|client| {
                        match client
                            .post(&url)
                            .header("X-Sentry-Auth", &auth)
                            .header("Content-Type", "application/x-sentry-envelope")
                            .body(body)
                            .send()
                        {
                            Ok(r) if r.status().is_success() => true,
                            Ok(_) => {
                                failed_metric("rejected");
                                false
                            }
                            Err(_) => {
                                failed_metric("network");
                                false
                            }
                        }
                    });
                if ok {
                    c.sent.fetch_add(1, Ordering::Relaxed);
                } else {
                    c.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

impl Transport for HttpTransport {
    fn send_envelope(&self, envelope: Envelope) {
        let Some(tx) = self.sender() else { return };
        match tx.try_send(Msg::Envelope(Box::new(envelope))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                counts().dropped.fetch_add(1, Ordering::Relaxed);
                failed_metric("queue_full");
            }
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        let Some(tx) = self.sender() else { return true };
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        // A full queue gets the whole timeout to make room for the marker.
        let deadline = std::time::Instant::now() + timeout;
        let mut msg = Msg::Flush(done_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return false,
            }
        }
        done_rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .is_ok()
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        let flushed = self.flush(timeout);
        // Closing the queue ends the thread once it is idle; it is joined only when it already
        // finished (a sender stuck on a dead endpoint is left to end on its own timeout).
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if flushed && let Some(w) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = w.join();
        }
        flushed
    }
}
