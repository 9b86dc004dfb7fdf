//! The audit store through its public API, on real SQLite files: sequence numbers, the hash
//! chain, lifecycle records, checkpoints and signatures, append-only triggers, write-ahead
//! attempts, the async API under concurrency.

mod audit_support;

use audit_support::*;
use observa::audit::{
    self, ACTION_STARTED, ACTION_STOPPED, AuditConfig, AuditErrorKind, AuditOutcome, Auditor,
    GENESIS_HASH, NewRecord, Problem, Receipt, VerifyError, VerifyOptions,
};
use std::collections::HashSet;

#[test]
fn records_are_sequenced_chained_and_lifecycle_is_audited() {
    let dir = TempDir::new("store-basic");
    let url = dir.url("a.db");
    let recs = build_trail(&url, 10, 1000, None);
    // seq 1 is audit.started; ours are 2..=11; audit.stopped is 12.
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 2);
        assert_eq!(r.record_hash.len(), 64);
        assert_eq!(r.schema_version, 1);
        assert!(r.time.ends_with('Z') && r.time.len() == 27, "{}", r.time);
        assert_eq!(r.category, "test");
        assert_eq!(r.tenant.as_deref(), Some("tenant-a"));
    }
    for w in recs.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].record_hash);
        assert_ne!(w[0].id, w[1].id);
    }
    let report = audit::verify(&url).expect("intact");
    assert_eq!(report.records, 12);
    assert!(report.clean_shutdown);
    assert_eq!(report.checkpoints, 1, "closing checkpoint");
    assert_eq!(report.signed_checkpoints, 0);

    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    let first: (String, String, String, String) = c
        .query_row(
            "SELECT action, actor, prev_hash, changes FROM audit_records WHERE seq = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(first.0, ACTION_STARTED);
    assert_eq!(first.1, "observa");
    assert_eq!(first.2, GENESIS_HASH);
    let cfg: serde_json::Value = serde_json::from_str(&first.3).unwrap();
    assert_eq!(cfg["after"]["store"], "sqlite");
    assert_eq!(cfg["after"]["durability"], "durable");
    assert_eq!(cfg["after"]["checkpoint_every"], 1000);
    let last: String = c
        .query_row("SELECT action FROM audit_records WHERE seq = 12", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(last, ACTION_STOPPED);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn reopening_continues_the_same_chain() {
    let dir = TempDir::new("store-reopen");
    let url = dir.url("a.db");
    let a = build_trail(&url, 3, 1000, None);
    let b = build_trail(&url, 3, 1000, None);
    assert_eq!(a[0].trail, b[0].trail);
    // 1 started, 2..4, 5 stopped, 6 started, 7..9
    assert_eq!(b[0].seq, 7);
    let report = audit::verify(&url).unwrap();
    assert_eq!(report.records, 10);
    assert_eq!(report.checkpoints, 2);
}

#[test]
fn append_only_triggers_and_unique_sequence() {
    let dir = TempDir::new("store-triggers");
    let url = dir.url("a.db");
    build_trail(&url, 2, 1000, None);
    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    for sql in [
        "UPDATE audit_records SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 2",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_meta SET value = 'x' WHERE key = 'trail'",
    ] {
        let e = c.execute(sql, []).expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    let e = c
        .execute(
            "INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = 2",
            [],
        )
        .expect_err("duplicate seq");
    assert!(e.to_string().contains("UNIQUE"), "{e}");
    audit::verify(&url).expect("still intact");
}

#[test]
fn checkpoints_are_periodic_and_signed() {
    let dir = TempDir::new("store-cp");
    let url = dir.url("a.db");
    let key = test_key();
    build_trail(&url, 23, 5, Some(key.clone()));
    // 25 records: checkpoints at 5, 10, 15, 20 and 25 (periodic and closing coincide).
    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    let counts: Vec<i64> = c
        .prepare("SELECT count FROM audit_checkpoints ORDER BY count")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(counts, vec![5, 10, 15, 20, 25]);
    let report = audit::verify(&url).unwrap();
    assert_eq!(report.checkpoints, 5);
    assert_eq!(report.signed_checkpoints, 5);
    assert_eq!(report.signing_keys, vec![key.public_key_hex()]);

    let ok = audit::verify_with(
        &url,
        &VerifyOptions::default().trusted_key(key.public_key_hex()),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let other = observa::audit::SigningKey::from_seed(&[9u8; 32]);
    match audit::verify_with(
        &url,
        &VerifyOptions::default().trusted_key(other.public_key_hex()),
    ) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, 5);
            assert!(matches!(
                f.problem,
                Problem::UntrustedCheckpoint { count: 5 }
            ));
        }
        other => panic!("expected untrusted checkpoint, got {other:?}"),
    }
    let (code, out, _) = cli_verify(&url, &["--public-key", &key.public_key_hex()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 25 records"), "{out}");
    assert!(out.contains("5 checkpoints (5 signed)"), "{out}");
    let (code, out, _) = cli_verify(&url, &["--public-key", &other.public_key_hex()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first bad record 5"), "{out}");
}

#[test]
fn external_checkpoint_is_checked() {
    let dir = TempDir::new("store-expect");
    let url = dir.url("a.db");
    let recs = build_trail(&url, 5, 1000, None);
    let r = &recs[2];
    assert!(
        audit::verify_with(
            &url,
            &VerifyOptions::default().expect(r.seq, &r.record_hash)
        )
        .is_ok()
    );
    let bad = audit::verify_with(&url, &VerifyOptions::default().expect(r.seq, GENESIS_HASH));
    match bad {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, r.seq);
            assert_eq!(f.problem.code(), "checkpoint_mismatch");
        }
        other => panic!("{other:?}"),
    }
    let beyond = audit::verify_with(&url, &VerifyOptions::default().expect(99, GENESIS_HASH));
    match beyond {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, 8);
            assert_eq!(f.problem.code(), "truncated");
        }
        other => panic!("{other:?}"),
    }
    let arg = format!("{}:{}", r.seq, r.record_hash);
    assert_eq!(cli_verify(&url, &["--expect", &arg]).0, 0);
    let arg = format!("{}:{}", r.seq, GENESIS_HASH);
    assert_eq!(cli_verify(&url, &["--expect", &arg]).0, 1);
}

#[test]
fn write_ahead_attempt_and_outcome_are_linked() {
    let dir = TempDir::new("store-attempt");
    let url = dir.url("a.db");
    let a = Auditor::open(AuditConfig::new(&url)).unwrap();
    let attempt = a
        .begin_attempt(
            NewRecord::new("user.suspend", "admin-1")
                .target("user-2")
                .outcome(AuditOutcome::Success),
        )
        .unwrap();
    let attempted = attempt.attempted().cloned().unwrap();
    assert_eq!(attempted.outcome, AuditOutcome::Attempted);
    assert!(attempted.attempt_id.is_none());
    let receipt = attempt
        .finish(AuditOutcome::failure("AppError::NotFound", "no such user"))
        .unwrap();
    let Receipt::Stored(done) = receipt else {
        panic!("not stored")
    };
    assert_eq!(done.seq, attempted.seq + 1);
    assert_eq!(done.attempt_id.as_deref(), Some(attempted.id.as_str()));
    assert_eq!(done.target.as_deref(), Some("user-2"));
    assert!(
        matches!(&done.outcome, AuditOutcome::Failure { error_class, .. } if error_class == "AppError::NotFound")
    );

    // Dropped without finish: a `cancelled` failure is recorded.
    let dropped = a
        .begin_attempt(NewRecord::new("user.delete", "admin-1"))
        .unwrap();
    let dropped_id = dropped.attempted().unwrap().id.clone();
    drop(dropped);
    a.close().unwrap();
    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    let (outcome, class): (String, String) = c
        .query_row(
            "SELECT outcome, error_class FROM audit_records WHERE attempt_id = ?1",
            [&dropped_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((outcome.as_str(), class.as_str()), ("failure", "cancelled"));
    audit::verify(&url).unwrap();
    // Closed: later appends fail with `Closed`, never succeed.
    let e = a.append(NewRecord::new("x.y", "z")).unwrap_err();
    assert_eq!(e.kind(), AuditErrorKind::Closed);
}

#[test]
fn invalid_records_are_rejected_before_writing() {
    let dir = TempDir::new("store-invalid");
    let url = dir.url("a.db");
    let a = Auditor::open(AuditConfig::new(&url)).unwrap();
    for r in [
        NewRecord::new("", "actor"),
        NewRecord::new("a.b", ""),
        NewRecord::new("a\u{1b}[31m", "actor"),
    ] {
        assert_eq!(
            a.append(r).unwrap_err().kind(),
            AuditErrorKind::InvalidRecord
        );
    }
    let ok = a
        .append(NewRecord::new("a.b", "x".repeat(5000)).reason("r".repeat(10_000)))
        .unwrap();
    assert!(ok.actor.len() <= 1024 && ok.actor.ends_with("[truncated]"));
    assert!(ok.reason.unwrap().len() <= 4096);
    a.close().unwrap();
    assert_eq!(audit::verify(&url).unwrap().records, 3);
}

#[test]
fn concurrent_async_and_blocking_writers_share_one_gap_free_chain() {
    let dir = TempDir::new("store-async");
    let url = dir.url("a.db");
    let a = Auditor::open(AuditConfig::new(&url)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let a = a.clone();
            rt.spawn(async move {
                a.append_async(NewRecord::new("job.run", "worker").target(format!("a{i}")))
                    .await
                    .unwrap()
                    .seq
            })
        })
        .collect();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|i| {
                        a.append(NewRecord::new("job.run", "worker").target(format!("b{t}-{i}")))
                            .unwrap()
                            .seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = rt.block_on(async {
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await.unwrap());
        }
        v
    });
    for t in threads {
        seqs.extend(t.join().unwrap());
    }
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), 80);
    assert_eq!(*unique.iter().min().unwrap(), 2);
    assert_eq!(*unique.iter().max().unwrap(), 81);
    a.close().unwrap();
    assert_eq!(audit::verify(&url).unwrap().records, 82);
}

#[test]
fn verify_reports_unreadable_trails() {
    let dir = TempDir::new("store-unreadable");
    let missing = dir.url("missing.db");
    assert!(matches!(
        audit::verify(&missing),
        Err(VerifyError::Unreadable(_))
    ));
    assert!(
        !dir.path().join("missing.db").exists(),
        "verify must not create a file"
    );
    let (code, _, err) = cli_verify(&missing, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no audit database"), "{err}");
    std::fs::write(
        dir.path().join("junk.db"),
        b"not a database at all, just text",
    )
    .unwrap();
    assert!(matches!(
        audit::verify(&dir.url("junk.db")),
        Err(VerifyError::Unreadable(_))
    ));
    assert_eq!(cli_verify("mysql://nope", &[]).0, 2);
    assert_eq!(
        run(env!("CARGO_BIN_EXE_observa-audit-cli"), &["frobnicate"]).0,
        2
    );
}

#[test]
fn context_fills_correlation_tenant_user_trace_and_source() {
    use observa::context::{Context, RequestSource};
    let dir = TempDir::new("store-context");
    let a = Auditor::open(AuditConfig::new(dir.url("a.db"))).unwrap();
    let ctx = Context::new()
        .with_correlation_id("corr-1")
        .with_tenant_id("tenant-1")
        .with_user_id("user-1")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .with_source(RequestSource {
            client_ip: Some("203.0.113.9".into()),
            user_agent: Some("curl/8".into()),
            session_fingerprint: Some("fp-abc".into()),
        });
    let r = ctx
        .clone()
        .scope(|| a.append(NewRecord::new("user.suspend", "admin-1")))
        .unwrap();
    assert_eq!(r.correlation.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(
        r.correlation.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(r.tenant.as_deref(), Some("tenant-1"));
    assert_eq!(r.user.as_deref(), Some("user-1"));
    assert_eq!(r.source.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(r.source.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(r.source.session.as_deref(), Some("fp-abc"));
    // Explicit values win over the context.
    let r = ctx
        .scope(|| a.append(NewRecord::new("user.suspend", "admin-1").tenant("explicit")))
        .unwrap();
    assert_eq!(r.tenant.as_deref(), Some("explicit"));
    // Outside any scope nothing is invented but a correlation id is not required.
    let r = a.append(NewRecord::new("user.suspend", "admin-1")).unwrap();
    assert_eq!(r.tenant, None);
    assert_eq!(r.user, None);
    a.close().unwrap();
}

#[test]
fn every_record_counts_in_audit_events_total() {
    fn count(action: &str, outcome: &str) -> f64 {
        let text = observa::metrics::render();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "audit_events_total"
                    && s.labels.get("action") == Some(action)
                    && s.labels.get("outcome") == Some(outcome)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum()
    }
    let dir = TempDir::new("store-metrics");
    let a = Auditor::open(AuditConfig::new(dir.url("a.db"))).unwrap();
    let before = count("metrics.probe", "failure");
    for _ in 0..3 {
        a.append(
            NewRecord::new("metrics.probe", "actor").outcome(AuditOutcome::failure("E", "boom")),
        )
        .unwrap();
    }
    assert_eq!(count("metrics.probe", "failure") - before, 3.0);
    a.close().unwrap();
    assert!(count(ACTION_STOPPED, "success") >= 1.0);
}

#[test]
fn lifecycle_actions_are_reserved() {
    let dir = TempDir::new("reserved");
    let url = dir.url("a.db");
    let a = Auditor::open(AuditConfig::new(&url)).unwrap();
    for action in [ACTION_STARTED, ACTION_STOPPED] {
        let e = a
            .append(NewRecord::new(action, "observa"))
            .expect_err("a caller cannot forge a lifecycle record");
        assert_eq!(e.kind(), AuditErrorKind::InvalidRecord);
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = a
            .begin_attempt(NewRecord::new(action, "observa"))
            .expect_err("nor begin one");
        assert_eq!(e.kind(), AuditErrorKind::InvalidRecord);
    }
    a.close().unwrap();
    let r = audit::verify(&url).unwrap();
    assert_eq!(r.records, 2);
}

/// A file suffix (`""`, `-wal`, `-shm`) with its bytes and modification time, if it exists.
type FileState = (String, Option<(Vec<u8>, std::time::SystemTime)>);

/// The state of the database at `path` and its `-wal` and `-shm` files.
fn snapshot(path: &std::path::Path) -> Vec<FileState> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|ext| {
            let p = format!("{}{ext}", path.display());
            let s = std::fs::read(&p).ok().map(|bytes| {
                let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
                (bytes, mtime)
            });
            (ext.to_string(), s)
        })
        .collect()
}

#[track_caller]
fn assert_unchanged(before: &[FileState], path: &std::path::Path) {
    let after = snapshot(path);
    assert!(before.iter().zip(&after).all(|(b, a)| b.0 == a.0));
    for ((ext, b), (_, a)) in before.iter().zip(&after) {
        match (b, a) {
            (None, None) => {}
            (Some((bb, bt)), Some((ab, at))) => {
                assert!(bb == ab, "verify changed the bytes of `{ext}`");
                assert_eq!(bt, at, "verify changed the mtime of `{ext}`");
            }
            (None, Some(_)) => panic!("verify created `{ext}`"),
            (Some(_), None) => panic!("verify deleted `{ext}`"),
        }
    }
}

#[test]
fn verify_never_changes_the_evidence() {
    let dir = TempDir::new("readonly");
    let live = dir.path().join("live.db");
    let url = format!("sqlite:{}", live.display());
    let a = Auditor::open(AuditConfig::new(&url).with_checkpoint_every(4)).unwrap();
    for i in 0..10 {
        a.append(NewRecord::new("user.update", "admin").target(format!("u{i}")))
            .unwrap();
    }
    // The writer is running: its records are in the WAL, not yet checkpointed into the file.
    let wal = dir.path().join("live.db-wal");
    assert!(wal.exists() && std::fs::metadata(&wal).unwrap().len() > 0);

    // A writer killed at this point leaves exactly these files: copy them as they are.
    let crashed = dir.path().join("crashed.db");
    for ext in ["", "-wal", "-shm"] {
        std::fs::copy(
            format!("{}{ext}", live.display()),
            format!("{}{ext}", crashed.display()),
        )
        .unwrap();
    }

    // 1. A live trail, verified by another process while its writer runs.
    let before = snapshot(&live);
    std::thread::sleep(std::time::Duration::from_millis(20)); // mtime granularity
    let (code, out, err) = cli_verify(&url, &[]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("intact: 11 records"),
        "records still in the WAL are part of the trail: {out}"
    );
    assert_unchanged(&before, &live);
    // In the writer's own process SQLite shares one WAL index between connections, so the
    // verifier's read mark may land in `-shm` (an index, not evidence); the database and the WAL
    // stay untouched.
    assert_eq!(audit::verify(&url).expect("intact").records, 11);
    assert_unchanged(&before[..2], &live);

    // 2. A crashed writer's files: SQLite would recover the WAL index and, when the last
    // connection closes, checkpoint the WAL into the file and delete it. Verifying must not.
    let crashed_url = format!("sqlite:{}", crashed.display());
    let before = snapshot(&crashed);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = audit::verify(&crashed_url).expect("intact");
    assert_eq!(r.records, 11);
    assert!(!r.clean_shutdown);
    let (code, out, err) = cli_verify(&crashed_url, &[]);
    assert_eq!(code, 0, "{out} {err}");
    assert_unchanged(&before, &crashed);

    // Tampering inside the WAL is still seen (the WAL is read, not ignored).
    let tampered = dir.path().join("tampered.db");
    for ext in ["", "-wal", "-shm"] {
        std::fs::copy(
            format!("{}{ext}", crashed.display()),
            format!("{}{ext}", tampered.display()),
        )
        .unwrap();
    }
    {
        let c = rusqlite::Connection::open(&tampered).unwrap();
        c.execute_batch(
            "DROP TRIGGER audit_records_no_update;
             UPDATE audit_records SET actor = 'mallory' WHERE seq = 9;",
        )
        .unwrap();
        // Keep the change in the WAL: no checkpoint on close.
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        std::mem::forget(c);
    }
    match audit::verify(&format!("sqlite:{}", tampered.display())) {
        Err(VerifyError::Tampered(f)) => assert_eq!(f.seq, 9, "{f}"),
        other => panic!("{other:?}"),
    }

    // 3. A cleanly closed trail: no WAL; verifying creates none.
    a.close().unwrap();
    assert!(
        !wal.exists(),
        "a clean close checkpoints and removes the WAL"
    );
    let before = snapshot(&live);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(audit::verify(&url).unwrap().records, 12);
    assert_eq!(cli_verify(&url, &[]).0, 0);
    assert_unchanged(&before, &live);
}

#[test]
fn due_checkpoints_follow_each_writer_across_restarts_and_crashes() {
    use std::io::BufRead as _;
    let dir = TempDir::new("due");
    let url = dir.url("a.db");
    // Writer 1: every 3 records, closed cleanly (records 1..=9).
    build_trail(&url, 7, 3, None);
    // Writer 2: every 5 records, killed while appending.
    let mut child = std::process::Command::new(CHILD)
        .args(["append", &url, "1", "0", "--checkpoint-every", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("ack ") && line.split(' ').nth(1).unwrap().parse::<u64>().unwrap() >= 23
        {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Writer 3: every 4 records, closed cleanly. Writer 2 never stopped, so only numbers both
    // intervals divide (20, 40, ...) and writer 3's `audit.stopped` are due from here on.
    build_trail(&url, 30, 4, None);
    let r = audit::verify(&url).expect("checkpoints of every writer where due");
    assert!(r.clean_shutdown);
    assert!(r.records > 23 + 30, "{r}");
    let last = r.records;

    // The closing checkpoint of writer 3 is still required.
    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    c.execute_batch("DROP TRIGGER audit_checkpoints_no_delete")
        .unwrap();
    c.execute(
        "DELETE FROM audit_checkpoints WHERE count = ?1",
        [last as i64],
    )
    .unwrap();
    drop(c);
    match audit::verify(&url) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, last, "{f}");
            assert_eq!(f.problem.code(), "checkpoint_missing", "{f}");
        }
        other => panic!("{other:?}"),
    }
}
