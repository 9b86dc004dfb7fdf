//! Mutation tests: a real trail on disk is tampered with the way an attacker with write access to
//! the SQLite file would (dropping the append-only triggers and the unique index first), and both
//! `observa::audit::verify` and the `observa-audit verify` process must name the first bad
//! sequence number.
//!
//! The attacker here also knows the documented canonical form: `rehash_from` re-implements it
//! independently of observa (SHA-256 over `prev_hash` and the canonical JSON) to rewrite a tail
//! with valid hashes; only checkpoints (signed) can catch that, and the tests show they do.

mod audit_support;

use audit_support::*;
use observa::audit::{self, StoredRecord, VerifyError, VerifyOptions};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// 42 records (started + 40 + stopped), signed checkpoints at 10, 20, 30, 40 and 42.
struct Base {
    _dir: TempDir,
    path: PathBuf,
    records: Vec<StoredRecord>,
    other: PathBuf,
    /// The same shape unsigned (Ed25519 verification is slow in debug builds; the field matrix
    /// runs thousands of verifications and needs only the hash chain).
    unsigned: PathBuf,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = TempDir::new("tamper-base");
        let url = dir.url("base.db");
        let records = build_trail(&url, 40, 10, Some(test_key()));
        // Another trail (same key, same shape, more records) to splice from.
        build_trail(&dir.url("other.db"), 60, 10, Some(test_key()));
        build_trail(&dir.url("unsigned.db"), 40, 10, None);
        let report = audit::verify(&url).expect("base trail intact");
        assert_eq!(report.records, 42);
        assert_eq!(report.checkpoints, 5);
        Base {
            path: dir.path().join("base.db"),
            other: dir.path().join("other.db"),
            unsigned: dir.path().join("unsigned.db"),
            records,
            _dir: dir,
        }
    })
}

/// Copies the base trail and applies `f` to the copy with the defences dropped: the append-only
/// triggers, and the primary key on `seq` (the table is rebuilt without constraints).
fn tamper(tag: &str, f: impl FnOnce(&Connection)) -> (TempDir, String) {
    let b = base();
    let dir = TempDir::new(&format!("tamper-{tag}"));
    let path = dir.path().join("t.db");
    copy_db(&b.path, &path);
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "PRAGMA synchronous = OFF;
         DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;
         DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;
         CREATE TABLE plain AS SELECT * FROM audit_records ORDER BY seq;
         DROP TABLE audit_records;
         ALTER TABLE plain RENAME TO audit_records;",
    )
    .unwrap();
    f(&c);
    drop(c);
    let url = format!("sqlite:{}", path.display());
    (dir, url)
}

fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for ext in ["-wal", "-shm"] {
        let src = PathBuf::from(format!("{}{ext}", from.display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{ext}", to.display())).unwrap();
        }
    }
}

#[track_caller]
fn assert_bad(url: &str, seq: u64, codes: &[&str]) {
    assert_bad_with(url, &VerifyOptions::default(), seq, codes);
}

#[track_caller]
fn assert_bad_with(url: &str, opts: &VerifyOptions, seq: u64, codes: &[&str]) {
    match audit::verify_with(url, opts) {
        Err(VerifyError::Tampered(f)) => {
            assert_eq!(f.seq, seq, "wrong first bad record: {f}");
            assert!(
                codes.contains(&f.problem.code()),
                "unexpected problem {} ({f}), expected one of {codes:?}",
                f.problem.code()
            );
        }
        other => panic!("tampering not detected (expected record {seq}): {other:?}"),
    }
}

#[track_caller]
fn assert_cli_bad(url: &str, seq: u64) {
    let (code, out, err) = cli_verify(url, &[]);
    assert_eq!(code, 1, "stdout: {out} stderr: {err}");
    assert!(
        out.contains(&format!("first bad record {seq}:")),
        "stdout: {out}"
    );
}

#[test]
fn independent_reimplementation_of_the_canonical_form_matches() {
    // Rehashing an untouched trail with the documented algorithm changes nothing.
    let (_d, url) = tamper("rehash-noop", |c| rehash_from(c, 1));
    let r = audit::verify(&url).expect("documented canonical form reproduces every hash");
    let original = audit::verify(&format!("sqlite:{}", base().path.display())).unwrap();
    assert_eq!(r.head_hash, original.head_hash);
    assert_eq!(r.records, 42);
}

#[test]
fn any_field_of_any_record_changed_is_detected() {
    let b = base();
    let dir = TempDir::new("tamper-fields");
    let path = dir.path().join("t.db");
    let url = format!("sqlite:{}", path.display());
    let mut checked = 0;
    let mut cli_checked = 0;
    for seq in 1..=42i64 {
        for col in COLUMNS {
            let mut variants: Vec<String> = match col {
                "seq" => vec![format!("{col} = {col} + 1000")],
                "schema_version" => vec![format!("{col} = 2")],
                "prev_hash" | "record_hash" => vec![
                    format!(
                        "{col} = (CASE substr({col}, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END) || substr({col}, 2)"
                    ),
                    format!("{col} = upper({col})"),
                ],
                _ => vec![format!(
                    "{col} = CASE WHEN {col} IS NULL THEN 'x' ELSE {col} || ' ' END"
                )],
            };
            // Every record gets the first variant; a sample also gets NULL and ''.
            let sample = matches!(seq, 1 | 2 | 10 | 11 | 21 | 30 | 41 | 42);
            if sample && !matches!(col, "seq" | "schema_version") {
                variants.push(format!("{col} = NULL"));
                variants.push(format!("{col} = ''"));
            }
            for set in variants {
                copy_db(&b.unsigned, &path);
                let c = Connection::open(&path).unwrap();
                c.execute_batch("PRAGMA synchronous = OFF; DROP TRIGGER audit_records_no_update")
                    .unwrap();
                let rowid: i64 = c
                    .query_row(
                        "SELECT rowid FROM audit_records WHERE seq = ?1",
                        [seq],
                        |r| r.get(0),
                    )
                    .unwrap();
                let quoted = |c: &Connection| -> String {
                    c.query_row(
                        &format!("SELECT quote({col}) FROM audit_records WHERE rowid = ?1"),
                        [rowid],
                        |r| r.get(0),
                    )
                    .unwrap()
                };
                let before = quoted(&c);
                match c.execute(
                    &format!("UPDATE audit_records SET {set} WHERE rowid = ?1"),
                    [rowid],
                ) {
                    Ok(n) => assert_eq!(n, 1),
                    // NULL in a NOT NULL column: impossible without rebuilding the table.
                    Err(e) if e.to_string().contains("NOT NULL") => continue,
                    Err(e) => panic!("{set}: {e}"),
                }
                // Setting a NULL to NULL or '' to '' is no change.
                let unchanged = col != "seq" && before == quoted(&c);
                drop(c);
                if unchanged {
                    continue;
                }
                assert_bad(
                    &url,
                    seq as u64,
                    &[
                        "modified",
                        "malformed",
                        "gap",
                        "foreign_trail",
                        "unsupported_schema",
                    ],
                );
                checked += 1;
                // The CLI on a sample (a process per mutation would dominate the test time).
                if (seq == 1 || seq == 20 || seq == 42) && set.ends_with("' ' END") {
                    assert_cli_bad(&url, seq as u64);
                    cli_checked += 1;
                }
            }
        }
    }
    assert!(checked > 42 * 28, "only {checked} mutations checked");
    assert!(cli_checked >= 3 * 20, "only {cli_checked} CLI runs");
}

#[test]
fn deleted_records_are_detected() {
    for seq in [1, 2, 20, 41] {
        let (_d, url) = tamper("delete", |c| {
            c.execute("DELETE FROM audit_records WHERE seq = ?1", [seq])
                .unwrap();
        });
        assert_bad(&url, seq as u64, &["gap"]);
        assert_cli_bad(&url, seq as u64);
    }
    // The last record: only the closing checkpoint knows it existed.
    let (_d, url) = tamper("delete-last", |c| {
        c.execute("DELETE FROM audit_records WHERE seq = 42", [])
            .unwrap();
    });
    assert_bad(&url, 42, &["truncated"]);
    assert_cli_bad(&url, 42);
}

#[test]
fn inserted_records_are_detected() {
    // A forged copy squeezed in with the same number.
    let (_d, url) = tamper("insert-dup-seq", |c| {
        c.execute(
            "INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = 20",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE audit_records SET actor = 'mallory', seq = 21 WHERE rowid = (SELECT max(rowid) FROM audit_records)",
            [],
        )
        .unwrap();
    });
    assert_bad(&url, 21, &["duplicate"]);
    assert_cli_bad(&url, 21);

    // Renumber the tail to make room and insert a forged record.
    let forge = |c: &Connection| {
        c.execute("UPDATE audit_records SET seq = seq + 1 WHERE seq > 20", [])
            .unwrap();
        c.execute(
            "INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = 20",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE audit_records SET seq = 21, actor = 'mallory', action = 'user.grant_admin' WHERE rowid = (SELECT max(rowid) FROM audit_records)",
            [],
        )
        .unwrap();
    };
    let (_d, url) = tamper("insert-renumber", forge);
    assert_bad(&url, 21, &["modified"]);
    assert_cli_bad(&url, 21);

    // Same, with every hash after the insertion recomputed: the chain is self-consistent, the
    // signed checkpoint at 30 is not.
    let (_d, url) = tamper("insert-rehash", |c| {
        forge(c);
        rehash_from(c, 21);
    });
    assert_bad(&url, 30, &["checkpoint_mismatch"]);
    assert_cli_bad(&url, 30);

    // And with the checkpoints rewritten to match: their signatures no longer verify.
    let (_d, url) = tamper("insert-rehash-cp", |c| {
        forge(c);
        rehash_from(c, 21);
        c.execute(
            "UPDATE audit_checkpoints SET head_hash = (SELECT record_hash FROM audit_records r WHERE r.seq = audit_checkpoints.count)",
            [],
        )
        .unwrap();
    });
    assert_bad(&url, 30, &["checkpoint_signature"]);
    assert_cli_bad(&url, 30);

    // With unsigned rewritten checkpoints: caught by the pinned key.
    let (_d, url) = tamper("insert-rehash-unsigned", |c| {
        forge(c);
        rehash_from(c, 21);
        c.execute(
            "UPDATE audit_checkpoints SET public_key = NULL, signature = NULL, head_hash = (SELECT record_hash FROM audit_records r WHERE r.seq = audit_checkpoints.count) WHERE count > 20",
            [],
        )
        .unwrap();
    });
    let pinned = VerifyOptions::default().trusted_key(test_key().public_key_hex());
    assert_bad_with(&url, &pinned, 30, &["untrusted_checkpoint"]);
    let (code, out, _) = cli_verify(&url, &["--public-key", &test_key().public_key_hex()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first bad record 30:"), "{out}");
}

#[test]
fn swapped_records_are_detected() {
    let cols = COLUMNS[1..].join(", ");
    // Swap the content of 15 and 16, keeping the numbers.
    let (_d, url) = tamper("swap-content", |c| {
        c.execute_batch(&format!(
            "CREATE TEMP TABLE a AS SELECT * FROM audit_records WHERE seq = 15;
             CREATE TEMP TABLE b AS SELECT * FROM audit_records WHERE seq = 16;
             DELETE FROM audit_records WHERE seq IN (15, 16);
             INSERT INTO audit_records (seq, {cols}) SELECT 15, {cols} FROM b;
             INSERT INTO audit_records (seq, {cols}) SELECT 16, {cols} FROM a;"
        ))
        .unwrap();
    });
    assert_bad(&url, 15, &["modified"]);
    assert_cli_bad(&url, 15);
    // Swap the numbers only.
    let (_d, url) = tamper("swap-seq", |c| {
        c.execute_batch(
            "UPDATE audit_records SET seq = -16 WHERE seq = 16;
             UPDATE audit_records SET seq = 16 WHERE seq = 15;
             UPDATE audit_records SET seq = 15 WHERE seq = -16;",
        )
        .unwrap();
    });
    assert_bad(&url, 15, &["modified"]);
    assert_cli_bad(&url, 15);
    // Swap and rehash: the checkpoint at 20 catches it.
    let (_d, url) = tamper("swap-rehash", |c| {
        c.execute_batch(
            "UPDATE audit_records SET seq = -16 WHERE seq = 16;
             UPDATE audit_records SET seq = 16 WHERE seq = 15;
             UPDATE audit_records SET seq = 15 WHERE seq = -16;",
        )
        .unwrap();
        rehash_from(c, 15);
    });
    assert_bad(&url, 20, &["checkpoint_mismatch"]);
    assert_cli_bad(&url, 20);
}

#[test]
fn duplicated_records_are_detected() {
    for seq in [1, 25, 42] {
        let (_d, url) = tamper("dup", |c| {
            c.execute(
                "INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = ?1",
                [seq],
            )
            .unwrap();
        });
        assert_bad(&url, seq as u64, &["duplicate"]);
        assert_cli_bad(&url, seq as u64);
    }
}

#[test]
fn records_spliced_from_another_trail_are_detected() {
    let other = base().other.display().to_string();
    // Replace 11..=15 with the other trail's 11..=15.
    let (_d, url) = tamper("splice-middle", |c| {
        c.execute("ATTACH DATABASE ?1 AS other", [&other]).unwrap();
        c.execute_batch(
            "DELETE FROM audit_records WHERE seq BETWEEN 11 AND 15;
             INSERT INTO audit_records SELECT * FROM other.audit_records WHERE seq BETWEEN 11 AND 15;",
        )
        .unwrap();
    });
    assert_bad(&url, 11, &["foreign_trail"]);
    assert_cli_bad(&url, 11);
    // Append the other trail's 43..=50 after our end.
    let (_d, url) = tamper("splice-tail", |c| {
        c.execute("ATTACH DATABASE ?1 AS other", [&other]).unwrap();
        c.execute_batch(
            "INSERT INTO audit_records SELECT * FROM other.audit_records WHERE seq BETWEEN 43 AND 50;",
        )
        .unwrap();
    });
    assert_bad(&url, 43, &["foreign_trail"]);
    assert_cli_bad(&url, 43);
    // Replace everything, records and checkpoints, with the other trail's first 42: no stored
    // evidence is left, but a checkpoint kept elsewhere (the log line) tells.
    let (_d, url) = tamper("splice-all", |c| {
        c.execute("ATTACH DATABASE ?1 AS other", [&other]).unwrap();
        c.execute_batch(
            "DELETE FROM audit_records; DELETE FROM audit_checkpoints;
             INSERT INTO audit_records SELECT * FROM other.audit_records WHERE seq <= 42;
             INSERT INTO audit_checkpoints SELECT * FROM other.audit_checkpoints WHERE count <= 42;",
        )
        .unwrap();
    });
    let head = &base().records[20];
    let expect = VerifyOptions::default().expect(head.seq, &head.record_hash);
    assert_bad_with(&url, &expect, head.seq, &["checkpoint_mismatch"]);
}

#[test]
fn truncation_in_the_middle_is_detected() {
    let (_d, url) = tamper("truncate", |c| {
        c.execute("DELETE FROM audit_records WHERE seq > 25", [])
            .unwrap();
    });
    assert_bad(&url, 26, &["truncated"]);
    assert_cli_bad(&url, 26);
    // Cutting the stored checkpoints too leaves a consistent-looking trail: only a checkpoint
    // kept outside the store (the `audit.checkpoint` log line) can tell, and it does.
    let (_d, url) = tamper("truncate-cp", |c| {
        c.execute_batch(
            "DELETE FROM audit_records WHERE seq > 25; DELETE FROM audit_checkpoints WHERE count > 25;",
        )
        .unwrap();
    });
    let r = audit::verify(&url).expect("no stored evidence left");
    assert!(
        !r.clean_shutdown,
        "the missing `audit.stopped` at least shows"
    );
    let last = base().records.last().unwrap();
    let expect = VerifyOptions::default().expect(last.seq, &last.record_hash);
    assert_bad_with(&url, &expect, 26, &["truncated"]);
    let arg = format!("{}:{}", last.seq, last.record_hash);
    let (code, out, _) = cli_verify(&url, &["--expect", &arg]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first bad record 26:"), "{out}");
}

#[test]
fn altered_checkpoints_are_detected() {
    let (_d, url) = tamper("cp-alter", |c| {
        c.execute(
            "UPDATE audit_checkpoints SET head_hash = (SELECT record_hash FROM audit_records WHERE seq = 19) WHERE count = 20",
            [],
        )
        .unwrap();
    });
    assert_bad(&url, 20, &["checkpoint_signature"]);
    assert_cli_bad(&url, 20);
    let (_d, url) = tamper("cp-garbage-sig", |c| {
        c.execute(
            "UPDATE audit_checkpoints SET signature = 'zz' WHERE count = 10",
            [],
        )
        .unwrap();
    });
    assert_bad(&url, 10, &["checkpoint_signature"]);
    // An unsigned checkpoint is accepted unless a key is pinned.
    let (_d, url) = tamper("cp-unsigned", |c| {
        c.execute(
            "UPDATE audit_checkpoints SET signature = NULL, public_key = NULL WHERE count = 30",
            [],
        )
        .unwrap();
    });
    assert!(audit::verify(&url).is_ok());
    let pinned = VerifyOptions::default().trusted_key(test_key().public_key_hex());
    assert_bad_with(&url, &pinned, 30, &["untrusted_checkpoint"]);
    // Redacted changes rewritten after the fact.
    let (_d, url) = tamper("changes", |c| {
        c.execute(
            "UPDATE audit_records SET changes = '{\"before\":null}' WHERE seq = 7",
            [],
        )
        .unwrap();
    });
    assert_bad(&url, 7, &["modified"]);
}

#[test]
fn rewritten_suffix_with_its_checkpoints_deleted_is_detected() {
    // Change record 25, recompute the chain from there, delete the checkpoints from 25 on: the
    // chain is self-consistent and every checkpoint left is genuine and signed by the pinned key.
    // The checkpoint due at 30 (the interval of 10 declared by `audit.started`) is missing.
    let (_d, url) = tamper("suffix-rewrite", |c| {
        c.execute(
            "UPDATE audit_records SET actor = 'mallory', target = 'target-x' WHERE seq = 25",
            [],
        )
        .unwrap();
        rehash_from(c, 25);
        c.execute("DELETE FROM audit_checkpoints WHERE count >= 25", [])
            .unwrap();
    });
    let pinned = VerifyOptions::default().trusted_key(test_key().public_key_hex());
    assert_bad_with(&url, &pinned, 30, &["checkpoint_missing"]);
    assert_bad(&url, 30, &["checkpoint_missing"]);
    let (code, out, err) = cli_verify(&url, &["--public-key", &test_key().public_key_hex()]);
    assert_eq!(code, 1, "stdout: {out} stderr: {err}");
    assert!(out.contains("first bad record 30:"), "{out}");
    assert!(out.contains("no checkpoint at 30 records"), "{out}");
    let (code, out, _) = cli_verify(&url, &["--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["problem"], "checkpoint_missing");
    assert_eq!(v["first_bad_seq"], 30);
}

#[test]
fn a_missing_due_checkpoint_is_a_finding() {
    // The closing checkpoint after `audit.stopped` (record 42, not a multiple of 10).
    let (_d, url) = tamper("cp-missing-close", |c| {
        c.execute("DELETE FROM audit_checkpoints WHERE count = 42", [])
            .unwrap();
    });
    assert_bad(&url, 42, &["checkpoint_missing"]);
    assert_cli_bad(&url, 42);
    match audit::verify(&url) {
        Err(VerifyError::Tampered(f)) => {
            assert!(f.to_string().contains("`audit.stopped`"), "{f}")
        }
        other => panic!("{other:?}"),
    }
    // A periodic one in the middle, with nothing else touched.
    let (_d, url) = tamper("cp-missing-20", |c| {
        c.execute("DELETE FROM audit_checkpoints WHERE count = 20", [])
            .unwrap();
    });
    assert_bad(&url, 20, &["checkpoint_missing"]);
    assert_cli_bad(&url, 20);
    // All of them: the first due one is named.
    let (_d, url) = tamper("cp-missing-all", |c| {
        c.execute("DELETE FROM audit_checkpoints", []).unwrap();
    });
    assert_bad(&url, 10, &["checkpoint_missing"]);
}
