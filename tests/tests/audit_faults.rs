//! Fault tests: an unwritable directory, a full device (a file-size limit makes every write past
//! it fail, like a full disk; `/dev/full` for the fallback sink) and a file that is not a
//! database. Appends return the error, nothing that failed is ever acknowledged, everything
//! acknowledged is in the trail, and the `degrade_and_alert` policy reaches its fallback.

mod audit_support;

use audit_support::*;
use observa::audit::{self, AuditConfig, AuditErrorKind, Auditor};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The child binary as an unprivileged user can run it: a copy in a world-readable directory
/// (the build directory may not be reachable for `nobody`). Keep the returned dir alive.
fn unprivileged_child() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("fault-bin");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("audit_child");
    std::fs::copy(CHILD, &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, exe)
}

#[test]
fn unwritable_directory_is_reported_not_acknowledged() {
    let dir = TempDir::new("fault-ro");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let url = format!("sqlite:{}", ro.join("audit.db").display());
    // Root ignores directory permissions: run the opener as an unprivileged user then.
    let (_bin, exe) = unprivileged_child();
    let mut cmd;
    if is_root() {
        cmd = Command::new(&exe);
        cmd.uid(65534).gid(65534);
    } else {
        cmd = Command::new(CHILD);
    }
    cmd.args(["open", &url]);
    let out = cmd.output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(stdout.trim(), "error unavailable");
    assert!(!ro.join("audit.db").exists());

    // A path under a regular file cannot be created by anyone, root included.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Auditor::open(AuditConfig::new(format!(
        "sqlite:{}",
        file.join("audit.db").display()
    )))
    .unwrap_err();
    assert_eq!(e.kind(), AuditErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("cannot open"), "{e}");
}

#[test]
fn existing_trail_made_read_only_refuses_appends() {
    if !is_root() {
        // Without root the test process itself is the unprivileged user.
        let dir = TempDir::new("fault-ro-file");
        let url = dir.url("a.db");
        build_trail(&url, 2, 1000, None);
        std::fs::set_permissions(
            dir.path().join("a.db"),
            std::fs::Permissions::from_mode(0o444),
        )
        .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        assert!(Auditor::open(AuditConfig::new(&url)).is_err());
        return;
    }
    let dir = TempDir::new("fault-ro-file");
    let url = dir.url("a.db");
    build_trail(&url, 2, 1000, None);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(
        dir.path().join("a.db"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    let (_bin, exe) = unprivileged_child();
    let out = Command::new(&exe)
        .args(["append", &url, "1", "3"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("ack "), "{stdout}");
    assert!(stdout.starts_with("error "), "{stdout}");
    assert_eq!(audit::verify(&url).unwrap().records, 4, "trail untouched");
}

#[test]
fn full_device_errors_are_returned_and_failed_records_never_acknowledged() {
    let dir = TempDir::new("fault-full");
    let url = dir.url("a.db");
    // 256 KiB per file: the database opens, then fills up after about 590 records (the exact
    // count moves with the record's bytes, e.g. the digits of the child's pid: with 300 per
    // thread it was sometimes 590 of 600, too few failures to check), so 450 per thread.
    let out = Command::new(CHILD)
        .args(["append", &url, "2", "450", "--fsize", "262144", "--close"])
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.starts_with("opened\n"), "{stdout}");
    let mut acked = HashMap::new();
    let mut failed = Vec::new();
    for l in stdout.lines() {
        let p: Vec<&str> = l.split(' ').collect();
        match p[0] {
            "ack" => {
                acked.insert(p[2].to_owned(), p[1].parse::<u64>().unwrap());
            }
            "err" => {
                assert_eq!(p[2], "io", "a full device is an I/O error: {l}");
                failed.push(p[1].to_owned());
            }
            _ => {}
        }
    }
    assert!(
        !acked.is_empty(),
        "nothing was written before the device filled: {stdout}"
    );
    assert!(
        failed.len() > 10,
        "the device never filled ({} acks): {stdout}",
        acked.len()
    );
    // Without the limit the trail verifies and holds exactly the acknowledged records.
    let report = audit::verify(&url).expect("trail intact after write failures");
    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    let stored: HashMap<String, u64> = c
        .prepare("SELECT target, seq FROM audit_records WHERE target IS NOT NULL")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (t, seq) in &acked {
        assert_eq!(stored.get(t), Some(seq), "acknowledged {t} missing");
    }
    for t in &failed {
        assert!(!stored.contains_key(t), "{t} failed but is in the trail");
    }
    assert_eq!(stored.len(), acked.len());
    assert_eq!(
        report.records as usize,
        acked.len() + 1 + usize::from(stdout.contains("\nclosed"))
    );

    // The same trail keeps working once space is back.
    build_trail(&url, 3, 1000, None);
    audit::verify(&url).expect("appends resume on the same chain");
}

#[test]
fn degrade_and_alert_writes_to_the_fallback_and_fail_closed_refuses() {
    let dir = TempDir::new("fault-degrade");
    let url = format!("sqlite:{}", dir.path().join("missing/dir/a.db").display());
    let fallback = dir.path().join("fallback.jsonl");
    let out = Command::new(CHILD)
        .arg("degrade")
        .env("OBSERVA_AUDIT_URL", &url)
        .env("OBSERVA_AUDIT_FALLBACK", &fallback)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "fail_closed begin error unavailable",
            "degrade begin ok stored=false",
            "degrade finish degraded",
            "counts degraded=2 lost=0",
        ],
        "{stdout}"
    );
    let text = std::fs::read_to_string(&fallback).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["event"], "audit.fallback");
    assert_eq!(lines[0]["action"], "user.suspend");
    assert_eq!(lines[0]["actor"], "admin-1");
    assert_eq!(lines[0]["outcome"]["outcome"], "attempted");
    assert_eq!(lines[0]["error_kind"], "unavailable");
    assert_eq!(lines[1]["outcome"]["outcome"], "success");
    // The fields bound in the scope go with the record, the sensitive one masked.
    for l in &lines {
        assert_eq!(
            l["bound"],
            serde_json::json!({"job_id": "job-99", "api_key": observa::REDACTED}),
            "{l}"
        );
    }
    assert!(!text.contains("fallback-canary"), "{text}");
    let mode = std::fs::metadata(&fallback).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn fallback_on_a_full_device_goes_to_stderr() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipping: no /dev/full");
        return;
    }
    let dir = TempDir::new("fault-devfull");
    let url = format!("sqlite:{}", dir.path().join("missing/a.db").display());
    let out = Command::new(CHILD)
        .arg("degrade")
        .env("OBSERVA_AUDIT_URL", &url)
        .env("OBSERVA_AUDIT_FALLBACK", "/dev/full")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("counts degraded=2 lost=0"), "{stdout}");
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "audit.fallback")
        .collect();
    assert_eq!(records.len(), 2, "stderr: {stderr}");
    assert_eq!(records[1]["target"], "user-2");
}

#[test]
fn a_file_that_is_not_a_trail_is_refused() {
    let dir = TempDir::new("fault-junk");
    let path = dir.path().join("junk.db");
    let junk = b"this is not an sqlite database, it is a text file of some length".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let e = Auditor::open(AuditConfig::new(format!("sqlite:{}", path.display()))).unwrap_err();
    assert_eq!(e.kind(), AuditErrorKind::Corrupt, "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), junk, "left untouched");
}
