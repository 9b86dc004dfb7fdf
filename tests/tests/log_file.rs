//! The rotated JSONL file sink, through `observa::init` (its own process: one init per binary).

use std::time::{Duration, Instant};

use observa::observed;

#[observed(event = "t.file", fields(i, pad))]
fn write_one(i: u64, pad: &str) -> u64 {
    i + pad.len() as u64
}

#[test]
fn rotates_by_size_keeps_backups_and_sanitises_the_name() {
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
            assert_eq!(v["event"], "t.file.completed");
            last_seen.push(v["i"].as_u64().unwrap());
        }
    }
    // The newest lines are kept: the last call is in the current file.
    assert!(last_seen.contains(&199));
    let _ = std::fs::remove_dir_all(&dir);
}
