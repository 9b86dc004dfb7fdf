//! The `audit.checkpoint` log lines as a witness kept off the host: a real process writes a trail
//! with observa's log pipeline installed from the environment (production mode, JSON file sink),
//! and `verify --witness LOG` checks the trail against the lines of that log file. Tampering
//! that leaves no stored evidence (a cut tail together with its checkpoints, a trail rewritten
//! and re-signed by someone holding the key) is caught; an intact trail verifies clean.

mod audit_support;

use audit_support::*;
use observa::audit::{self, VerifyError, VerifyOptions, WitnessCheckpoint};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Witnessed {
    dir: TempDir,
    db: PathBuf,
    log: PathBuf,
}

impl Witnessed {
    fn url(&self) -> String {
        format!("sqlite:{}", self.db.display())
    }

    /// A copy of the database with the append-only triggers dropped, tampered by `f`.
    fn tampered(&self, tag: &str, f: impl FnOnce(&Connection)) -> String {
        let path = self.dir.path().join(format!("{tag}.db"));
        std::fs::copy(&self.db, &path).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;
             DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;",
        )
        .unwrap();
        f(&c);
        drop(c);
        format!("sqlite:{}", path.display())
    }
}

/// `audit.started`, `n` records, `audit.stopped`, written by a child process that logs to a
/// JSON file in production mode; checkpoints every `every` records, signed with [`test_key`].
fn witnessed_trail(tag: &str, n: usize, every: u64) -> Witnessed {
    let dir = TempDir::new(tag);
    let db = dir.path().join("audit.db");
    let log = dir.path().join("app.log");
    let out = Command::new(CHILD)
        .args(["witness", &n.to_string()])
        .env("OBSERVA_ENV", "production")
        .env("OBSERVA_LOG_FORMAT", "json")
        .env("OBSERVA_LOG_LEVEL", "info")
        .env("OBSERVA_LOG_FILE", &log)
        .env("OBSERVA_AUDIT_URL", format!("sqlite:{}", db.display()))
        .env("OBSERVA_AUDIT_CHECKPOINT_EVERY", every.to_string())
        .env("OBSERVA_AUDIT_SIGNING_KEY", "07".repeat(32))
        .output()
        .expect("spawn audit_child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "done"),
        "child failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Witnessed { dir, db, log }
}

fn witness_of(log: &Path) -> VerifyOptions {
    VerifyOptions::default()
        .trusted_key(test_key().public_key_hex())
        .witness_file(log)
        .expect("witness lines")
}

#[track_caller]
fn assert_finding(url: &str, opts: &VerifyOptions, seq: u64, code: &str) -> String {
    match audit::verify_with(url, opts) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, seq, "{f}");
            assert_eq!(f.problem.code(), code, "{f}");
            f.to_string()
        }
        other => panic!("expected a finding at {seq}: {other:?}"),
    }
}

#[test]
fn checkpoint_lines_carry_the_witness_through_a_production_log() {
    let w = witnessed_trail("witness-lines", 40, 10);
    let text = std::fs::read_to_string(&w.log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == "audit.checkpoint")
        .collect();
    // 10, 20, 30, 40 and the closing one at 42.
    assert_eq!(lines.len(), 5, "{text}");
    let parsed: Vec<WitnessCheckpoint> = text
        .lines()
        .filter_map(WitnessCheckpoint::parse_line)
        .collect();
    let counts: Vec<u64> = parsed.iter().map(|c| c.count).collect();
    assert_eq!(counts, [10, 20, 30, 40, 42]);
    let report = audit::verify(&w.url()).unwrap();
    let last = parsed.last().unwrap();
    assert_eq!(last.head_hash, report.head_hash);
    assert_eq!(Some(&last.trail), report.trail.as_ref());
    assert_eq!(
        last.public_key.as_deref(),
        Some(test_key().public_key_hex().as_str())
    );
    assert!(last.signature.is_some());

    // A console line (colours included) carries the same checkpoint.
    let json: serde_json::Value = serde_json::from_str(
        text.lines()
            .find(|l| l.contains("audit.checkpoint"))
            .unwrap(),
    )
    .unwrap();
    let message = json["message"].as_str().unwrap();
    let console = format!(
        "\u{1b}[2m2026-01-01T00:00:00.000000Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m audit.checkpoint \u{1b}[1m{message}\u{1b}[0m count=10"
    );
    assert_eq!(
        WitnessCheckpoint::parse_line(&console).as_ref(),
        parsed.first()
    );
}

#[test]
fn an_intact_trail_verifies_clean_against_its_witness() {
    let w = witnessed_trail("witness-intact", 40, 10);
    let report = audit::verify_with(&w.url(), &witness_of(&w.log)).expect("intact");
    assert_eq!(report.records, 42);
    assert_eq!(report.witnessed, 5);
    assert!(report.clean_shutdown);

    let log = w.log.display().to_string();
    let key = test_key().public_key_hex();
    let (code, out, err) = cli_verify(&w.url(), &["--witness", &log, "--public-key", &key]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("intact: 42 records"), "{out}");
    assert!(out.contains("5 witness checkpoints matched"), "{out}");
    let (code, out, _) = cli_verify(&w.url(), &["--witness", &log, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["witnessed"], 5);
}

#[test]
fn witness_catches_a_tail_cut_together_with_its_checkpoints() {
    let w = witnessed_trail("witness-cut", 40, 10);
    let url = w.tampered("cut", |c| {
        c.execute_batch(
            "DELETE FROM audit_records WHERE seq > 25;
             DELETE FROM audit_checkpoints WHERE count > 25;",
        )
        .unwrap();
    });
    // No stored evidence is left: without the witness the trail looks like a crashed writer's.
    let pinned = VerifyOptions::default().trusted_key(test_key().public_key_hex());
    assert!(audit::verify_with(&url, &pinned).is_ok());
    let msg = assert_finding(&url, &witness_of(&w.log), 26, "truncated");
    assert!(msg.contains("covers 30 records"), "{msg}");
    let (code, out, err) = cli_verify(&url, &["--witness", &w.log.display().to_string()]);
    assert_eq!(code, 1, "{out} {err}");
    assert!(out.contains("first bad record 26:"), "{out}");

    // Cutting only the last records and the closing checkpoint, past the last periodic one.
    let url = w.tampered("cut-end", |c| {
        c.execute_batch(
            "DELETE FROM audit_records WHERE seq > 40;
             DELETE FROM audit_checkpoints WHERE count > 40;",
        )
        .unwrap();
    });
    assert!(audit::verify_with(&url, &pinned).is_ok());
    assert_finding(&url, &witness_of(&w.log), 41, "truncated");
}

/// Signs a checkpoint the way the writer does (the message format is documented).
fn sign(trail: &str, count: i64, head: &str, created_at: &str) -> String {
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let msg = format!("observa-audit-checkpoint/v1\n{trail}\n{count}\n{head}\n{created_at}\n");
    key.sign(msg.as_bytes())
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn witness_catches_a_trail_rewritten_and_re_signed_with_the_key() {
    let w = witnessed_trail("witness-resign", 40, 10);
    // The attacker holds the signing key: record 25 changed, the chain recomputed, and every
    // checkpoint from 25 on rewritten to the new hashes and signed again.
    let url = w.tampered("resigned", |c| {
        c.execute(
            "UPDATE audit_records SET actor = 'mallory' WHERE seq = 25",
            [],
        )
        .unwrap();
        rehash_from(c, 25);
        let cps: Vec<(i64, String, String)> = c
            .prepare("SELECT count, trail, created_at FROM audit_checkpoints WHERE count >= 25")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(cps.len(), 3);
        for (count, trail, created_at) in cps {
            let head: String = c
                .query_row(
                    "SELECT record_hash FROM audit_records WHERE seq = ?1",
                    [count],
                    |r| r.get(0),
                )
                .unwrap();
            let sig = sign(&trail, count, &head, &created_at);
            c.execute(
                "UPDATE audit_checkpoints SET head_hash = ?1, signature = ?2 WHERE count = ?3",
                rusqlite::params![head, sig, count],
            )
            .unwrap();
        }
    });
    // Everything stored is consistent and signed by the pinned key.
    let pinned = VerifyOptions::default().trusted_key(test_key().public_key_hex());
    let r = audit::verify_with(&url, &pinned).expect("the stored evidence is consistent");
    assert_eq!(r.signed_checkpoints, 5);
    // The head hashes that left the host before the rewrite are not.
    let msg = assert_finding(&url, &witness_of(&w.log), 30, "checkpoint_mismatch");
    assert!(msg.contains("expected checkpoint at 30"), "{msg}");
    let (code, out, err) = cli_verify(
        &url,
        &[
            "--public-key",
            &test_key().public_key_hex(),
            "--witness",
            &w.log.display().to_string(),
        ],
    );
    assert_eq!(code, 1, "{out} {err}");
    assert!(out.contains("first bad record 30:"), "{out}");
}

#[test]
fn a_witness_of_another_trail_or_a_forged_line_is_a_finding() {
    let a = witnessed_trail("witness-a", 12, 5);
    let b = witnessed_trail("witness-b", 12, 5);
    // The whole store replaced by another trail: no line of the witness names it.
    let msg = assert_finding(&b.url(), &witness_of(&a.log), 1, "foreign_trail");
    assert!(msg.contains("no witness line names this trail"), "{msg}");

    // A line whose head hash was altered: its signature no longer verifies.
    let text = std::fs::read_to_string(&a.log).unwrap();
    let line = text
        .lines()
        .find(|l| WitnessCheckpoint::parse_line(l).is_some_and(|c| c.count == 10))
        .unwrap();
    let cp = WitnessCheckpoint::parse_line(line).unwrap();
    let flipped = if cp.head_hash.starts_with('a') {
        "b"
    } else {
        "a"
    };
    let forged_head = format!("{flipped}{}", &cp.head_hash[1..]);
    let forged = a.dir.path().join("forged.log");
    std::fs::write(&forged, line.replace(&cp.head_hash, &forged_head)).unwrap();
    let opts = VerifyOptions::default().witness_file(&forged).unwrap();
    let msg = assert_finding(&a.url(), &opts, 10, "checkpoint_signature");
    assert!(msg.contains("witness line"), "{msg}");
}

#[test]
fn witness_arguments_that_cannot_be_used_exit_2() {
    let w = witnessed_trail("witness-args", 3, 5);
    let missing = w.dir.path().join("missing.log");
    let (code, _, err) = cli_verify(&w.url(), &["--witness", &missing.display().to_string()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("witness"), "{err}");
    let empty = w.dir.path().join("empty.log");
    std::fs::write(&empty, "{\"event\":\"request.completed\"}\nnot json\n").unwrap();
    let (code, _, err) = cli_verify(&w.url(), &["--witness", &empty.display().to_string()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no `audit.checkpoint` line"), "{err}");
    assert!(VerifyOptions::default().witness_file(&empty).is_err());
    let (code, _, _) = cli_verify(&w.url(), &["--witness"]);
    assert_eq!(code, 2);
}
