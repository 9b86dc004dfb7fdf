//! The rotated JSONL file sink, through `observa::init` (its own process: one init per binary).

use std::time::{Duration, Instant};

use observa::observed;

#[observed(event = "t.file", fields(i, pad))]
fn write_one(i: u64, pad: &str) -> u64 {
    i + pad.len() as u64
}

#[test]
fn rotates_by_size_keeps_backups_and_sanitises_the_name() {
    if std::env::var_os("OBSERVA_TEST_CHILD_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("observa-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A hostile file name: spaces, a newline and a path-ish character get replaced.
    let path = dir.join("app log\n:1.jsonl");
    let guard = observa::init(
        observa::Config::new("file-test")
            .with_writer(std::io::sink())
            .with_log_file(&path, 4096, 2),
    )
    .expect("init");
    let pad = "x".repeat(200);
    for i in 0..200 {
        write_one(i, &pad);
    }
    drop(guard); // flushes every queued line
    let base = dir.join("app_log__1.jsonl");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !base.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app_log__1.jsonl",
            "app_log__1.jsonl.1",
            "app_log__1.jsonl.2"
        ],
        "current file plus two backups"
    );
    let mut last_seen = Vec::new();
    for n in &names {
        let p = dir.join(n);
        let meta = std::fs::metadata(&p).unwrap();
        assert!(meta.len() <= 4096, "{n} is {} bytes", meta.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o640, "{n}");
        }
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            // The start-up line that states the resolved sink (tests/tests/log_file_sink.rs).
            if v["event"] == "observa.log_sink" {
                assert_eq!(v["backups"], 2);
                assert_eq!(v["max_bytes"], 4096);
                assert_eq!(v["max_age"], "none");
                assert_eq!(v["targets"], "*");
                continue;
            }
            assert_eq!(v["event"], "t.file.completed");
            last_seen.push(v["i"].as_u64().unwrap());
        }
    }
    // The newest lines are kept: the last call is in the current file.
    assert!(last_seen.contains(&199));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory of its own under the system temp dir, removed at the end.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("observa-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lines_of(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn put(f: &mut observa::log::file::RotatingFile, line: &str) {
    use std::io::Write as _;
    let mut l = format!("{line:<200}").into_bytes();
    l.push(b'\n');
    f.write_all(&l).unwrap();
}

#[test]
fn a_file_removed_under_the_writer_is_recreated_and_no_backup_is_lost() {
    let dir = temp_dir("file-removed");
    let path = dir.join("app.jsonl");
    let backup = |n: usize| dir.join(format!("app.jsonl.{n}"));
    let mut f = observa::log::file::RotatingFile::open(&path, 1024, 2).unwrap();
    // ~5 lines of 201 bytes per file: 12 lines give the current file and two backups.
    for i in 0..12 {
        put(&mut f, &format!("before-{i}"));
    }
    let (b1, b2) = (lines_of(&backup(1)), lines_of(&backup(2)));
    assert!(!b1.is_empty() && !b2.is_empty());
    std::fs::remove_file(&path).unwrap();
    for i in 0..8 {
        put(&mut f, &format!("after-{i}"));
    }
    let mut all: Vec<String> = [path.clone(), backup(1), backup(2)]
        .iter()
        .flat_map(|p| lines_of(p))
        .map(|l| l.trim_end().to_owned())
        .collect();
    all.sort();
    for i in 0..8 {
        assert!(
            all.contains(&format!("after-{i}")),
            "after-{i} missing from the files: {all:?}"
        );
    }
    // Every line of the backups that existed is still in some file, unless a later rotation
    // pushed it out the normal way (the newest lines win).
    let kept_old = b1
        .iter()
        .chain(&b2)
        .filter(|l| all.contains(&l.trim_end().to_owned()))
        .count();
    assert!(
        kept_old >= b1.len(),
        "backups lost to a failed rotation: {all:?}"
    );
    assert!(!dir.join("app.jsonl.3").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_directory_is_created() {
    let dir = temp_dir("file-mkdir");
    let path = dir.join("a/b/app.jsonl");
    let mut f = observa::log::file::RotatingFile::open(&path, 1 << 20, 1).unwrap();
    put(&mut f, "one");
    assert_eq!(lines_of(&path).len(), 1);
    // And again when the directory goes away under the writer.
    std::fs::remove_dir_all(dir.join("a")).unwrap();
    put(&mut f, "two");
    assert_eq!(lines_of(&path), [format!("{:<200}", "two")]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run in a child process: its stderr is the fallback the parent checks.
#[test]
fn child_stderr_fallback() {
    let Some(dir) = std::env::var_os("OBSERVA_TEST_CHILD_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let path = dir.join("logs/app.jsonl");
    let mut f = observa::log::file::RotatingFile::open(&path, 1 << 20, 1).unwrap();
    put(&mut f, "to-file-1");
    // The directory becomes a regular file: nothing can be created at the path.
    std::fs::remove_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs"), b"not a directory").unwrap();
    put(&mut f, "to-stderr-1");
    put(&mut f, "to-stderr-2");
    // The path is usable again: the sink comes back.
    std::fs::remove_file(dir.join("logs")).unwrap();
    put(&mut f, "to-file-2");
}

#[test]
fn lines_fall_back_to_stderr_and_the_file_comes_back() {
    if std::env::var_os("OBSERVA_TEST_CHILD_DIR").is_some() {
        return;
    }
    let dir = temp_dir("file-fallback");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_stderr_fallback",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBSERVA_TEST_CHILD_DIR", &dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("to-stderr-1") && stderr.contains("to-stderr-2"),
        "{stderr}"
    );
    assert!(!stderr.contains("to-file-2"), "{stderr}");
    let back: Vec<String> = lines_of(&dir.join("logs/app.jsonl"))
        .iter()
        .map(|l| l.trim_end().to_owned())
        .collect();
    assert_eq!(back, ["to-file-2"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unopenable_file_leaves_stdout_logging_and_says_so() {
    if std::env::var_os("OBSERVA_TEST_CHILD_DIR").is_some() {
        return;
    }
    let dir = temp_dir("file-unopenable");
    std::fs::write(dir.join("plain"), b"x").unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_init_unopenable",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBSERVA_TEST_CHILD_DIR", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // The test harness prints `test child_init_unopenable ... ` before the first line.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
        .collect();
    assert!(
        lines
            .iter()
            .any(|v| v["event"] == "observa.log_file_unavailable" && v["level"] == "error"),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|v| v["event"] == "t.file.completed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("observa_internal_errors_total{kind=\"log_file\"} 1"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run in a child process: `init` with a file under a regular file.
#[test]
fn child_init_unopenable() {
    let Some(dir) = std::env::var_os("OBSERVA_TEST_CHILD_DIR") else {
        return;
    };
    let path = std::path::PathBuf::from(dir).join("plain/app.jsonl");
    let guard = observa::init(observa::Config::new("file-test").with_log_file(path, 4096, 1))
        .expect("init carries on without the file");
    write_one(1, "x");
    drop(guard);
    println!("{}", observa::metrics::render());
}

#[test]
fn a_rotation_that_fails_keeps_every_backup_and_the_file() {
    if std::env::var_os("OBSERVA_TEST_CHILD_DIR").is_some() {
        return;
    }
    let dir = temp_dir("file-rotation-fails");
    let path = dir.join("app.jsonl");
    let backup = |n: usize| dir.join(format!("app.jsonl.{n}"));
    let mut f = observa::log::file::RotatingFile::open(&path, 1024, 2).unwrap();
    for i in 0..7 {
        put(&mut f, &format!("first-{i}"));
    }
    let b1 = lines_of(&backup(1));
    assert!(!b1.is_empty());
    // `app.jsonl.2` cannot be replaced: a non-empty directory.
    std::fs::create_dir_all(backup(2).join("x")).unwrap();
    for i in 0..10 {
        put(&mut f, &format!("next-{i}"));
    }
    assert_eq!(lines_of(&backup(1)), b1, "the backup is untouched");
    let current: Vec<String> = lines_of(&path)
        .iter()
        .map(|l| l.trim_end().to_owned())
        .collect();
    for i in 0..10 {
        assert!(current.contains(&format!("next-{i}")), "{current:?}");
    }
    assert!(!dir.join("app.jsonl.rotating").exists());
    // Rotation works again once the obstacle is gone.
    std::fs::remove_dir_all(backup(2)).unwrap();
    for i in 0..10 {
        put(&mut f, &format!("last-{i}"));
    }
    assert!(backup(2).is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
