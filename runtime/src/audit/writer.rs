//! Group commit: one writer thread per auditor owns the store connection. Callers hand it sealed-
//! to-be records over a channel; the thread drains everything pending (up to `max_batch`), writes
//! it in **one** transaction with **one** durable commit, and only then acknowledges each caller.
//! While a commit is flushing, new records queue up and form the next batch, so N concurrent
//! writers share fsyncs instead of paying one each.
//!
//! The chain head is read inside each transaction, under the store's write lock (SQLite
//! `BEGIN IMMEDIATE`, PostgreSQL `SELECT … FOR UPDATE` on a head row), so several processes can
//! append to one trail and sequence numbers stay gap-free.

use super::config::SigningKey;
use super::error::{AuditError, AuditErrorKind};
use super::record::{GENESIS_HASH, Prepared, StoredRecord};
use super::util;
use std::sync::{Mutex, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the writer waits for more records before committing, at most, when fewer records
/// are pending than the previous batch held. Concurrent callers acknowledged by one commit need a
/// moment to wake up and submit again; without the window they would split into a batch of one
/// and a batch of the rest, paying two flushes. A lone writer (previous batch of one) never waits.
/// Small against a flush (milliseconds on most disks).
pub(crate) const GATHER_WINDOW: Duration = Duration::from_micros(200);

/// The chain head found in the store at the start of a transaction.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub trail: String,
    pub seq: u64,
    pub hash: String,
}

/// A checkpoint: the trail had `count` records and record `count` had hash `head_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub count: u64,
    pub trail: String,
    pub head_hash: String,
    pub created_at: String,
    /// Ed25519 public key, 64 hex digits, when signed.
    pub public_key: Option<String>,
    /// Ed25519 signature over [`checkpoint_message`], 128 hex digits, when signed.
    pub signature: Option<String>,
}

/// The bytes a checkpoint signature covers.
pub(crate) fn checkpoint_message(
    trail: &str,
    count: u64,
    head_hash: &str,
    created_at: &str,
) -> Vec<u8> {
    format!("observa-audit-checkpoint/v1\n{trail}\n{count}\n{head_hash}\n{created_at}\n")
        .into_bytes()
}

/// A store as seen by the writer thread. Every method runs on that thread.
pub(crate) trait Backend: Send + 'static {
    /// Starts a write transaction, takes the trail's write lock and returns the head.
    fn begin(&mut self) -> Result<Head, AuditError>;
    /// Inserts sealed records, in order.
    fn insert(&mut self, records: &[StoredRecord]) -> Result<(), AuditError>;
    /// Inserts one checkpoint.
    fn insert_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), AuditError>;
    /// Commits durably (per the durability mode).
    fn commit(&mut self) -> Result<(), AuditError>;
    /// Rolls back after a failure and drops the connection so the next batch starts afresh.
    fn abort(&mut self);
}

/// Assigns sequence numbers and hashes and decides where checkpoints fall.
#[derive(Debug)]
pub(crate) struct Sealer {
    pub checkpoint_every: u64,
    pub signer: Option<SigningKey>,
}

impl Sealer {
    fn seal(
        &self,
        head: &Head,
        batch: Vec<Prepared>,
        close: bool,
    ) -> (Vec<StoredRecord>, Vec<Checkpoint>) {
        let mut seq = head.seq;
        let mut prev = head.hash.clone();
        let mut records = Vec::with_capacity(batch.len());
        let mut checkpoints = Vec::new();
        for p in batch {
            seq += 1;
            let r = p.seal(&head.trail, seq, &prev);
            prev.clone_from(&r.record_hash);
            if seq.is_multiple_of(self.checkpoint_every.max(1)) {
                checkpoints.push(self.checkpoint(&head.trail, seq, &prev));
            }
            records.push(r);
        }
        if close && seq > 0 && checkpoints.last().is_none_or(|c| c.count != seq) {
            checkpoints.push(self.checkpoint(&head.trail, seq, &prev));
        }
        (records, checkpoints)
    }

    fn checkpoint(&self, trail: &str, count: u64, head_hash: &str) -> Checkpoint {
        use ed25519_dalek::Signer as _;
        let created_at = util::rfc3339_micros(std::time::SystemTime::now());
        let (public_key, signature) = match &self.signer {
            Some(k) => {
                let sig =
                    k.0.sign(&checkpoint_message(trail, count, head_hash, &created_at));
                (Some(k.public_key_hex()), Some(util::hex(&sig.to_bytes())))
            }
            None => (None, None),
        };
        Checkpoint {
            count,
            trail: trail.to_owned(),
            head_hash: head_hash.to_owned(),
            created_at,
            public_key,
            signature,
        }
    }
}

/// Where the writer sends a caller's acknowledgement.
pub(crate) enum Reply {
    Blocking(mpsc::SyncSender<Result<StoredRecord, AuditError>>),
    Async(tokio::sync::oneshot::Sender<Result<StoredRecord, AuditError>>),
    /// Nobody waits (the outcome record of a dropped attempt); failures go to the fallback sink.
    Detached(Box<dyn FnOnce(Result<StoredRecord, AuditError>) + Send>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reply::Blocking(_) => "Reply::Blocking",
            Reply::Async(_) => "Reply::Async",
            Reply::Detached(_) => "Reply::Detached",
        })
    }
}

impl Reply {
    fn send(self, result: Result<StoredRecord, AuditError>) {
        match self {
            // A caller that stopped waiting (dropped future) is not an error.
            Reply::Blocking(tx) => drop(tx.send(result)),
            Reply::Async(tx) => drop(tx.send(result)),
            Reply::Detached(f) => f(result),
        }
    }
}

enum Msg {
    Append(Prepared, Reply),
    /// Append the final record(s), write a closing checkpoint, acknowledge and stop.
    Close(
        Option<(Prepared, Reply)>,
        mpsc::SyncSender<Result<(), AuditError>>,
    ),
}

/// Handle to a running writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: RwLock<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl Writer {
    /// Starts the writer thread. `connect` runs on that thread (PostgreSQL's sync client must
    /// not be created inside an async runtime); its error is returned here.
    pub(super) fn start<B, F>(
        name: &str,
        connect: F,
        sealer: Sealer,
        max_batch: usize,
    ) -> Result<Self, AuditError>
    where
        B: Backend,
        F: FnOnce() -> Result<B, AuditError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), AuditError>>(1);
        let thread = std::thread::Builder::new()
            .name(format!("observa-audit-{name}"))
            .spawn(move || match connect() {
                Ok(backend) => {
                    let _ = ready_tx.send(Ok(()));
                    run(backend, rx, sealer, max_batch.max(1));
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| {
                AuditError::new(
                    AuditErrorKind::Unavailable,
                    "cannot start the audit writer thread",
                )
                .with_source(e)
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                tx: RwLock::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(AuditError::new(
                    AuditErrorKind::Unavailable,
                    "the audit writer thread stopped while opening the store",
                ))
            }
        }
    }

    /// Queues a record; the reply is sent after the commit.
    pub(super) fn submit(&self, p: Prepared, reply: Reply) {
        let guard = match self.tx.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.as_ref() {
            Some(tx) => {
                if let Err(mpsc::SendError(Msg::Append(_, reply))) = tx.send(Msg::Append(p, reply))
                {
                    reply.send(Err(AuditError::closed()));
                }
            }
            None => reply.send(Err(AuditError::closed())),
        }
    }

    /// Appends `last` (the `audit.stopped` record), writes the closing checkpoint and stops the
    /// thread. Idempotent: later calls return `Ok(())` without writing.
    pub(super) fn close(&self, last: Option<(Prepared, Reply)>) -> Result<(), AuditError> {
        let tx = match self.tx.write() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let result = match tx {
            Some(tx) => {
                let (done_tx, done_rx) = mpsc::sync_channel(1);
                match tx.send(Msg::Close(last, done_tx)) {
                    Ok(()) => done_rx.recv().unwrap_or_else(|_| Err(AuditError::closed())),
                    Err(_) => Err(AuditError::closed()),
                }
            }
            None => Ok(()),
        };
        if let Some(t) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = t.join();
        }
        result
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.close(None);
    }
}

fn run<B: Backend>(mut backend: B, rx: mpsc::Receiver<Msg>, sealer: Sealer, max_batch: usize) {
    let mut records = Vec::new();
    let mut replies = Vec::new();
    let mut last_batch = 1usize;
    loop {
        let Ok(first) = rx.recv() else {
            return; // every sender dropped without a close: nothing pending
        };
        let gather_until = Instant::now() + GATHER_WINDOW;
        let mut closing = None;
        push(first, &mut records, &mut replies, &mut closing);
        while closing.is_none() && records.len() < max_batch {
            let next = match rx.try_recv() {
                Ok(m) => Some(m),
                // The callers acknowledged by the last commit are still waking up: give them a
                // moment to hand in their next records so they share this commit.
                Err(mpsc::TryRecvError::Empty) if records.len() < last_batch => {
                    let left = gather_until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        None
                    } else {
                        rx.recv_timeout(left).ok()
                    }
                }
                Err(_) => None,
            };
            match next {
                Some(m) => push(m, &mut records, &mut replies, &mut closing),
                None => break,
            }
        }
        last_batch = records.len().max(1);
        let batch = std::mem::take(&mut records);
        let result = if batch.is_empty() {
            Ok(Vec::new())
        } else {
            write_batch(&mut backend, &sealer, batch, closing.is_some())
        };
        match result {
            Ok(stored) => {
                for (r, rec) in replies.drain(..).zip(stored) {
                    r.send(Ok(rec));
                }
                if let Some(done) = closing {
                    let _ = done.send(Ok(()));
                    return;
                }
            }
            Err(e) => {
                for r in replies.drain(..) {
                    r.send(Err(e.clone()));
                }
                if let Some(done) = closing {
                    let _ = done.send(Err(e));
                    return;
                }
            }
        }
    }
}

type Closing = Option<mpsc::SyncSender<Result<(), AuditError>>>;

fn push(m: Msg, records: &mut Vec<Prepared>, replies: &mut Vec<Reply>, closing: &mut Closing) {
    match m {
        Msg::Append(p, r) => {
            records.push(p);
            replies.push(r);
        }
        Msg::Close(last, done) => {
            if let Some((p, r)) = last {
                records.push(p);
                replies.push(r);
            }
            *closing = Some(done);
        }
    }
}

/// The `audit.checkpoint` log line: a witness that leaves the host with the logs, so that a
/// trail rewritten or cut on the host is caught by `observa-audit verify --witness LOG`. The
/// checkpoint travels in the message ([`WitnessCheckpoint`](super::verify::WitnessCheckpoint)
/// documents the form), which every log pipeline keeps, production's allowlist included; `count`,
/// `trail` and `head_hash` are repeated as fields for readers.
fn witness_line(c: &Checkpoint) {
    let message = super::verify::WitnessCheckpoint::message(
        &c.trail,
        c.count,
        &c.head_hash,
        &c.created_at,
        c.public_key.as_deref(),
        c.signature.as_deref(),
    );
    tracing::info!(
        target: "observa::audit",
        event = "audit.checkpoint",
        trail = %c.trail,
        count = c.count,
        head_hash = %c.head_hash,
        signed = c.signature.is_some(),
        "{message}"
    );
}

fn write_batch<B: Backend>(
    backend: &mut B,
    sealer: &Sealer,
    batch: Vec<Prepared>,
    close: bool,
) -> Result<Vec<StoredRecord>, AuditError> {
    let attempt = (|| {
        let head = backend.begin()?;
        if head.seq == 0 && head.hash != GENESIS_HASH {
            return Err(AuditError::new(
                AuditErrorKind::Corrupt,
                "empty trail with a non-genesis head",
            ));
        }
        let (records, checkpoints) = sealer.seal(&head, batch, close);
        backend.insert(&records)?;
        for c in &checkpoints {
            backend.insert_checkpoint(c)?;
        }
        backend.commit()?;
        for c in &checkpoints {
            witness_line(c);
        }
        Ok(records)
    })();
    if attempt.is_err() {
        backend.abort();
    }
    attempt
}
