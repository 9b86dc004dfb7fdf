//! Durable audit appends per second with 1, 8 and 64 concurrent writers: observa's group-commit
//! SQLite store against the naive store a user would write (one autocommit `INSERT` per record,
//! WAL, `synchronous=FULL`: one fsync per record, records hash-chained the same way), in the same
//! run on the same disk.
//!
//! Criterion measures the time per acknowledged record; a summary pass afterwards prints
//! throughput and acknowledgement latency (p50/p99) for each configuration as a Markdown table
//! (see `benches/AUDIT_RESULTS.md`).
//!
//!   cargo bench --manifest-path benches/Cargo.toml --bench audit

use criterion::{Criterion, criterion_group};
use observa::audit::{AuditConfig, Auditor, NewRecord};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

const WRITERS: [usize; 3] = [1, 8, 64];

fn temp_dir() -> PathBuf {
    let p = std::env::temp_dir().join(format!("observa-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn record(w: usize, i: u64) -> NewRecord {
    NewRecord::new("user.suspend", format!("admin-{w}"))
        .target(format!("user-{i}"))
        .tenant("tenant-1")
        .changes(
            serde_json::json!({"status": "active"}),
            serde_json::json!({"status": "suspended"}),
        )
}

/// What a user would write without observa: a mutex around one connection, an autocommit INSERT
/// (one transaction, one fsync) per record, the same SHA-256 chaining.
struct Naive {
    inner: Mutex<(Connection, u64, String)>,
}

impl Naive {
    fn open(path: &std::path::Path) -> Self {
        let c = Connection::open(path).unwrap();
        c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .unwrap();
        c.execute_batch(
            "PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, time TEXT NOT NULL,
               payload TEXT NOT NULL, prev_hash TEXT NOT NULL, record_hash TEXT NOT NULL);",
        )
        .unwrap();
        Self {
            inner: Mutex::new((c, 0, "0".repeat(64))),
        }
    }

    fn append(&self, w: usize, i: u64) {
        let payload = serde_json::json!({
            "action": "user.suspend", "actor": format!("admin-{w}"), "target": format!("user-{i}"),
            "tenant": "tenant-1",
            "changes": {"before": {"status": "active"}, "after": {"status": "suspended"}},
        })
        .to_string();
        let time = format!("{:?}", std::time::SystemTime::now());
        let mut g = self.inner.lock().unwrap();
        let seq = g.1 + 1;
        let mut h = Sha256::new();
        h.update(g.2.as_bytes());
        h.update(payload.as_bytes());
        let hash: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        g.0.execute(
            "INSERT INTO audit (seq, time, payload, prev_hash, record_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![seq as i64, time, payload, g.2, hash],
        )
        .unwrap();
        g.1 = seq;
        g.2 = hash;
    }
}

/// Runs `per_writer` appends on each of `writers` threads started together; returns the wall
/// time and every acknowledgement latency.
fn run(
    writers: usize,
    per_writer: u64,
    append: &(dyn Fn(usize, u64) + Sync),
) -> (Duration, Vec<Duration>) {
    let barrier = Barrier::new(writers + 1);
    let lat = Mutex::new(Vec::with_capacity(writers * per_writer as usize));
    let start = std::thread::scope(|s| {
        for w in 0..writers {
            let (barrier, lat) = (&barrier, &lat);
            s.spawn(move || {
                let mut mine = Vec::with_capacity(per_writer as usize);
                barrier.wait();
                for i in 0..per_writer {
                    let t = Instant::now();
                    append(w, i);
                    mine.push(t.elapsed());
                }
                lat.lock().unwrap().extend(mine);
            });
        }
        barrier.wait();
        Instant::now()
    });
    (start.elapsed(), lat.into_inner().unwrap())
}

/// Runs every writer until `budget` has passed; returns records, wall time and latencies.
fn run_for(
    writers: usize,
    budget: Duration,
    append: &(dyn Fn(usize, u64) + Sync),
) -> (u64, Duration, Vec<Duration>) {
    let barrier = Barrier::new(writers + 1);
    let lat = Mutex::new(Vec::new());
    let start = std::thread::scope(|s| {
        for w in 0..writers {
            let (barrier, lat) = (&barrier, &lat);
            s.spawn(move || {
                let mut mine = Vec::new();
                barrier.wait();
                let start = Instant::now();
                let mut i = 0;
                while start.elapsed() < budget {
                    let t = Instant::now();
                    append(w, i);
                    mine.push(t.elapsed());
                    i += 1;
                }
                lat.lock().unwrap().extend(mine);
            });
        }
        barrier.wait();
        Instant::now()
    });
    let elapsed = start.elapsed();
    let lat = lat.into_inner().unwrap();
    (lat.len() as u64, elapsed, lat)
}

fn bench_appends(c: &mut Criterion) {
    let dir = temp_dir();
    let mut g = c.benchmark_group("audit_durable_append");
    for writers in WRITERS {
        let auditor = Auditor::open(AuditConfig::new(format!(
            "sqlite:{}",
            dir.join(format!("group-{writers}.db")).display()
        )))
        .unwrap();
        g.bench_function(format!("observa_group_commit/{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(writers as u64);
                let (t, _) = run(writers, per, &|w, i| {
                    auditor.append(record(w, i)).unwrap();
                });
                // Time per acknowledged record.
                t.mul_f64(iters as f64 / (per * writers as u64) as f64)
            })
        });
        auditor.close().unwrap();
        let naive = Naive::open(&dir.join(format!("naive-{writers}.db")));
        g.bench_function(format!("naive_fsync_per_record/{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(writers as u64);
                let (t, _) = run(writers, per, &|w, i| naive.append(w, i));
                t.mul_f64(iters as f64 / (per * writers as u64) as f64)
            })
        });
    }
    g.finish();
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// The numbers for BENCHMARKS.md. Flush latency on shared or virtual disks drifts over seconds,
/// so the two stores are measured in alternating 1 s slices (5 each per writer count) and
/// the slices are added up: both see the same disk conditions.
fn summary() {
    let dir = temp_dir();
    let slice = Duration::from_secs(1);
    let rounds = 5;
    println!();
    println!(
        "## Audit: durable appends (SQLite, WAL, synchronous=FULL), {rounds} alternating {slice:?} slices per store"
    );
    println!();
    println!("| writers | store | records/s | p50 ack ms | p99 ack ms | speed-up |");
    println!("|---:|---|---:|---:|---:|---:|");
    for writers in WRITERS {
        let auditor = Auditor::open(AuditConfig::new(format!(
            "sqlite:{}",
            dir.join(format!("summary-group-{writers}.db")).display()
        )))
        .unwrap();
        let naive = Naive::open(&dir.join(format!("summary-naive-{writers}.db")));
        let (mut gn, mut gt, mut glat) = (0u64, Duration::ZERO, Vec::new());
        let (mut nn, mut nt, mut nlat) = (0u64, Duration::ZERO, Vec::new());
        for _ in 0..rounds {
            let (n, t, lat) = run_for(writers, slice, &|w, i| {
                auditor.append(record(w, i)).unwrap();
            });
            gn += n;
            gt += t;
            glat.extend(lat);
            let (n, t, lat) = run_for(writers, slice, &|w, i| naive.append(w, i));
            nn += n;
            nt += t;
            nlat.extend(lat);
        }
        auditor.close().unwrap();
        glat.sort();
        nlat.sort();
        let group_rate = gn as f64 / gt.as_secs_f64();
        let naive_rate = nn as f64 / nt.as_secs_f64();
        println!(
            "| {writers} | observa group commit | {group_rate:.0} | {} | {} | {:.1}x |",
            ms(pct(&glat, 0.5)),
            ms(pct(&glat, 0.99)),
            group_rate / naive_rate
        );
        println!(
            "| {writers} | naive fsync per record | {naive_rate:.0} | {} | {} | 1.0x |",
            ms(pct(&nlat, 0.5)),
            ms(pct(&nlat, 0.99)),
        );
    }
    println!();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_appends
}

fn main() {
    benches();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
