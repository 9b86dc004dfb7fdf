//! The PostgreSQL store against the real server named by `OBSERVA_TEST_POSTGRES_URL`; every test
//! creates and drops its own schema. Several processes and connections append to one trail at
//! once: sequence numbers stay gap-free, the chain verifies, and every acknowledged record is there.

mod audit_support;

use audit_support::*;
use observa::audit::{self, AuditConfig, AuditOutcome, Auditor, NewRecord, Receipt, VerifyError};
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn stored_targets(s: &PgSchema) -> HashMap<String, u64> {
    let mut c = s.client();
    c.query(
        &format!(
            "SELECT target, seq FROM {}.audit_records WHERE target IS NOT NULL",
            s.name
        ),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
    .collect()
}

#[test]
fn postgres_trail_is_append_only_chained_and_verifiable() {
    let Some(base) = pg_url() else { return };
    let s = PgSchema::new(&base, "basic");
    let url = s.url();
    let a = Auditor::open(
        AuditConfig::new(&url)
            .with_checkpoint_every(5)
            .with_signing_key(test_key()),
    )
    .unwrap();
    assert_eq!(a.store_kind(), "postgres");
    for i in 0..12 {
        let r = a
            .append(
                NewRecord::new("user.update", "admin")
                    .target(format!("u{i}"))
                    .changes(serde_json::json!({"n": i}), serde_json::json!({"n": i + 1})),
            )
            .unwrap();
        assert_eq!(r.seq, i + 2);
    }
    let attempt = a
        .begin_attempt(NewRecord::new("user.suspend", "admin").target("u99"))
        .unwrap();
    let Receipt::Stored(done) = attempt.finish(AuditOutcome::Success).unwrap() else {
        panic!("not stored")
    };
    assert_eq!(done.seq, 15);
    a.close().unwrap();

    let report = audit::verify(&url).unwrap();
    assert_eq!(report.store, "postgres");
    assert_eq!(report.records, 16);
    assert_eq!(report.checkpoints, 4); // 5, 10, 15, 16
    assert_eq!(report.signed_checkpoints, 4);
    assert!(report.clean_shutdown);
    let (code, out, err) = cli_verify(&url, &["--public-key", &test_key().public_key_hex()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("intact: 16 records"), "{out}");

    let mut c = s.client();
    let n = &s.name;
    for sql in [
        format!("UPDATE {n}.audit_records SET actor = 'mallory' WHERE seq = 3"),
        format!("DELETE FROM {n}.audit_records WHERE seq = 3"),
        format!("TRUNCATE {n}.audit_records"),
        format!("DELETE FROM {n}.audit_checkpoints"),
    ] {
        let e = c.batch_execute(&sql).expect_err(&sql);
        let db = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_default();
        assert!(db.contains("append-only"), "{sql}: {e}");
    }
    // Tamper with the triggers out of the way: detected by the library and the CLI.
    c.batch_execute(&format!(
        "ALTER TABLE {n}.audit_records DISABLE TRIGGER USER;
         UPDATE {n}.audit_records SET target = 'u-forged' WHERE seq = 7;"
    ))
    .unwrap();
    match audit::verify(&url) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, 7);
            assert_eq!(f.problem.code(), "modified");
        }
        other => panic!("{other:?}"),
    }
    let (code, out, _) = cli_verify(&url, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first bad record 7:"), "{out}");
    c.batch_execute(&format!("DELETE FROM {n}.audit_records WHERE seq > 12"))
        .unwrap();
    match audit::verify(&url) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, 7, "still the first bad one");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn postgres_concurrent_writers_in_several_processes_stay_gap_free() {
    let Some(base) = pg_url() else { return };
    let s = PgSchema::new(&base, "concurrent");
    let url = s.url();
    const PER: usize = 40;
    // Two child processes with 3 threads each...
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(CHILD)
                .args([
                    "append",
                    &url,
                    "3",
                    &PER.to_string(),
                    "--close",
                    "--checkpoint-every",
                    "25",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // ...and two auditors (two connections) in this process with 3 threads each.
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut in_process = Vec::new();
    for k in 0..2 {
        let a = Auditor::open(AuditConfig::new(&url).with_checkpoint_every(25)).unwrap();
        for t in 0..3 {
            let a = a.clone();
            in_process.push(std::thread::spawn(move || {
                (0..PER)
                    .map(|i| {
                        let target = format!("local-{k}-{t}-{i}");
                        let r = a
                            .append(NewRecord::new("job.run", "worker").target(target.clone()))
                            .unwrap();
                        (target, r.seq)
                    })
                    .collect::<Vec<_>>()
            }));
        }
        // The threads hold clones: the last one to finish closes this auditor.
        drop(a);
    }
    for h in in_process {
        for (t, seq) in h.join().unwrap() {
            assert!(acked.insert(t, seq).is_none());
        }
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("\nclosed"), "{stdout}");
        for l in stdout.lines().filter(|l| l.starts_with("ack ")) {
            let p: Vec<&str> = l.split(' ').collect();
            assert!(
                acked
                    .insert(p[2].to_owned(), p[1].parse().unwrap())
                    .is_none()
            );
        }
        assert!(!stdout.contains("err "), "{stdout}");
    }
    assert_eq!(acked.len(), 4 * 3 * PER);
    let seqs: std::collections::HashSet<u64> = acked.values().copied().collect();
    assert_eq!(
        seqs.len(),
        acked.len(),
        "a sequence number was handed out twice"
    );

    let report = audit::verify(&url).expect("one consistent chain");
    // 4 auditors x (started + stopped) + every acknowledged record, nothing else, no gaps.
    assert_eq!(report.records as usize, acked.len() + 8);
    assert!(report.checkpoints as usize >= acked.len() / 25);
    let stored = stored_targets(&s);
    for (t, seq) in &acked {
        assert_eq!(stored.get(t), Some(seq), "{t}");
    }
}

#[test]
fn postgres_acknowledged_records_survive_sigkill() {
    let Some(base) = pg_url() else { return };
    let s = PgSchema::new(&base, "crash");
    let url = s.url();
    let mut acked: HashMap<String, u64> = HashMap::new();
    for run in 0..12u64 {
        let mut child = Command::new(CHILD)
            .args(["append", &url, "2", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') && tx.send(line.trim_end().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let mut lines = Vec::new();
        while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
            let opened = l == "opened";
            lines.push(l);
            if opened {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5 + (run * 7) % 30));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        for l in lines.iter().filter(|l| l.starts_with("ack ")) {
            let p: Vec<&str> = l.split(' ').collect();
            acked.insert(p[2].to_owned(), p[1].parse().unwrap());
        }
    }
    assert!(!acked.is_empty());
    audit::verify(&url).expect("chain intact after kills");
    let stored = stored_targets(&s);
    for (t, seq) in &acked {
        assert_eq!(stored.get(t), Some(seq), "{t}");
    }
}
