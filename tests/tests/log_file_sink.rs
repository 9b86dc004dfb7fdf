//! The seeds' file-sink contract through `observa::init`, with real files: directory and file
//! name as separate settings (`OBSERVA_LOG_DIR`, `OBSERVA_LOG_FILE_NAME`), the directory created
//! (or a WARN line and stdout carrying every line when it cannot be), the resolved sinks logged
//! once at start, backups and retention by age, and chosen targets routed to files of their own
//! (seed 003's `publish_sync`, `wordpress_api`, `webhooks`).
//!
//! `init` runs once per process, so each scenario runs in a child process of this test binary
//! (its environment set by the parent) and the parent reads the files and the child's stdout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const CHILD: &str = "OBSERVA_TEST_SINK_CHILD";
const DAY: Duration = Duration::from_secs(86_400);

/// A directory of its own under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("observa-sink-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the child test `name` with `envs` (every other `OBSERVA_*` setting of this process
/// removed); returns (success, stdout, stderr).
fn run_child(name: &str, dir: &Path, envs: &[(&str, String)]) -> (bool, String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("OBSERVA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(CHILD, dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON lines of a child's stdout (the harness prints `test name ... ` before the first).
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
        .collect()
}

fn file_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD).map(PathBuf::from)
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// A file with `text`, last written `age` ago.
fn aged_file(path: &Path, text: &str, age: Duration) {
    std::fs::write(path, text).unwrap();
    set_age(path, age);
}

fn set_age(path: &Path, age: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// Child: everything from the environment; lines of main and routed targets.
#[test]
fn child_env_sinks() {
    if !is_child() {
        return;
    }
    let guard = observa::init_from_env().expect("init");
    let pad = "x".repeat(200);
    for i in 0..100u64 {
        tracing::info!(target: "app", i, pad = %pad, "main line");
    }
    tracing::info!(target: "publish_sync", step = "push", "ps line");
    tracing::info!(target: "publish_sync::pages", step = "page", "ps child line");
    tracing::warn!(target: "wordpress_api", status = 502u64, "wp line");
    tracing::info!(target: "webhooks.shopify", "hook line");
    tracing::info!(target: "publish_syncer", "not routed");
    tracing::info!(target: "publish_sync::media::upload", "media line");
    drop(guard);
}

#[test]
fn dir_file_name_size_backups_age_and_routes_come_from_the_environment() {
    if is_child() {
        return;
    }
    let root = temp_dir("env");
    // Three levels that do not exist yet.
    let dir = root.join("var/log/app");
    let (ok, stdout, stderr) = run_child(
        "child_env_sinks",
        &root,
        &[
            ("OBSERVA_SERVICE_NAME", "sink-env".to_owned()),
            ("OBSERVA_LOG_DIR", dir.display().to_string()),
            ("OBSERVA_LOG_FILE_NAME", "svc.jsonl".to_owned()),
            ("OBSERVA_LOG_FILE_MAX_BYTES", "2048".to_owned()),
            ("OBSERVA_LOG_FILE_BACKUPS", "3".to_owned()),
            ("OBSERVA_LOG_FILE_MAX_AGE", "2d".to_owned()),
            (
                "OBSERVA_LOG_ROUTES",
                "publish_sync=publish_sync.log,wordpress_api=wordpress-api.log,webhooks,publish_sync::media=media.log"
                    .to_owned(),
            ),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");

    // The directory was created (0750), with the main file, three backups (not the default
    // ten: 100 lines of ~400 bytes make about twenty files of 2048 bytes) and the routed files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o750);
    }
    assert_eq!(
        names_in(&dir),
        [
            "media.log",
            "publish_sync.log",
            "svc.jsonl",
            "svc.jsonl.1",
            "svc.jsonl.2",
            "svc.jsonl.3",
            "webhooks.jsonl",
            "wordpress-api.log"
        ]
    );
    let mut main = Vec::new();
    for n in ["svc.jsonl", "svc.jsonl.1", "svc.jsonl.2", "svc.jsonl.3"] {
        let len = std::fs::metadata(dir.join(n)).unwrap().len();
        assert!(len <= 2048, "{n} is {len} bytes");
        main.extend(file_lines(&dir.join(n)));
    }
    // Routed lines are not in the main file (the seed's non-propagating loggers); a target that
    // only shares a prefix is not routed.
    let targets: Vec<&str> = main.iter().filter_map(|v| v["target"].as_str()).collect();
    assert!(
        targets
            .iter()
            .all(|t| ["app", "publish_syncer", "observa"].contains(t)),
        "{targets:?}"
    );
    assert!(targets.contains(&"publish_syncer"));
    assert!(main.iter().any(|v| v["i"] == 99), "the newest line is kept");

    let ps = file_lines(&dir.join("publish_sync.log"));
    let ps: Vec<(&str, &str)> = ps
        .iter()
        .map(|v| {
            (
                v["target"].as_str().unwrap(),
                v["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ps,
        [
            ("publish_sync", "ps line"),
            ("publish_sync::pages", "ps child line")
        ]
    );
    // The longest matching route wins: `publish_sync::media` over `publish_sync`.
    let media = file_lines(&dir.join("media.log"));
    assert_eq!(media.len(), 1);
    assert_eq!(media[0]["message"], "media line");
    let wp = file_lines(&dir.join("wordpress-api.log"));
    assert_eq!(wp.len(), 1);
    assert_eq!(wp[0]["level"], "warn");
    assert_eq!(wp[0]["status"], 502);
    let hooks = file_lines(&dir.join("webhooks.jsonl"));
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["target"], "webhooks.shopify");

    // stdout carries every line, routed ones included (console + file, as in the seed).
    let out = json_lines(&stdout);
    for m in [
        "ps line",
        "ps child line",
        "wp line",
        "hook line",
        "not routed",
        "media line",
    ] {
        assert!(out.iter().any(|v| v["message"] == m), "{m}: {stdout}");
    }
    assert_eq!(
        out.iter().filter(|v| v["message"] == "main line").count(),
        100
    );
    // The resolved sinks, once each, at start.
    let sinks: Vec<&serde_json::Value> = out
        .iter()
        .filter(|v| v["event"] == "observa.log_sink")
        .collect();
    assert_eq!(sinks.len(), 5, "{sinks:?}");
    let sink = |file: &str| {
        sinks
            .iter()
            .find(|v| v["path"] == dir.join(file).display().to_string())
            .unwrap_or_else(|| panic!("no observa.log_sink line for {file}: {sinks:?}"))
    };
    for (file, targets) in [
        ("svc.jsonl", "*"),
        ("publish_sync.log", "publish_sync"),
        ("wordpress-api.log", "wordpress_api"),
        ("webhooks.jsonl", "webhooks"),
        ("media.log", "publish_sync::media"),
    ] {
        let s = sink(file);
        assert_eq!(s["level"], "info");
        assert_eq!(s["max_bytes"], 2048, "{s}");
        assert_eq!(s["backups"], 3, "{s}");
        assert_eq!(s["max_age"], "2d", "{s}");
        assert_eq!(s["targets"], targets, "{s}");
        // The same facts in the message, which production's allowlist keeps.
        assert_eq!(
            s["message"],
            format!(
                "log file sink: path={} max_bytes=2048 backups=3 max_age=2d targets={targets}",
                dir.join(file).display()
            )
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Child: retention from code; checks the start-up pruning itself, then makes the first backup
/// old and writes until the files rotate.
#[test]
fn child_retention() {
    let Some(dir) = child_dir() else {
        return;
    };
    let logs = dir.join("logs");
    let mut config = observa::Config::new("retention")
        .with_writer(std::io::sink())
        .with_log_dir(&logs)
        .with_log_file_name("main.jsonl")
        .with_log_file_max_age(2 * DAY)
        .with_log_route("publish_sync", "ps.log");
    config.log_file_max_bytes = 2048;
    let guard = observa::init(config).expect("init");
    // At start: rotated files older than two days are gone, younger ones and other files stay.
    for gone in ["main.jsonl.2", "main.jsonl.7", "ps.log.1"] {
        assert!(!logs.join(gone).exists(), "{gone} outlived its age");
    }
    for kept in [
        "main.jsonl.1",
        "main.jsonl.9",
        "notes.txt",
        "main.jsonl.old",
    ] {
        assert!(logs.join(kept).exists(), "{kept} was removed");
    }
    // The first backup ages past the limit while the process runs: the next rotation removes it
    // (it would otherwise be shifted to `main.jsonl.2` and kept, backups being 10).
    set_age(&logs.join("main.jsonl.1"), 5 * DAY);
    let pad = "y".repeat(200);
    for i in 0..30u64 {
        tracing::info!(target: "app", i, pad = %pad, "fill");
    }
    drop(guard);
}

#[test]
fn rotated_files_older_than_the_max_age_are_removed_at_start_and_at_rotation() {
    if is_child() {
        return;
    }
    let root = temp_dir("age");
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    aged_file(&logs.join("main.jsonl.1"), "{\"mark\":\"young-1\"}\n", DAY);
    aged_file(
        &logs.join("main.jsonl.2"),
        "{\"mark\":\"old-2\"}\n",
        3 * DAY,
    );
    aged_file(
        &logs.join("main.jsonl.7"),
        "{\"mark\":\"old-7\"}\n",
        10 * DAY,
    );
    aged_file(
        &logs.join("main.jsonl.9"),
        "{\"mark\":\"young-9\"}\n",
        Duration::ZERO,
    );
    aged_file(&logs.join("ps.log.1"), "{\"mark\":\"old-ps\"}\n", 3 * DAY);
    aged_file(&logs.join("notes.txt"), "not a backup", 10 * DAY);
    aged_file(&logs.join("main.jsonl.old"), "not numbered", 10 * DAY);
    let (ok, stdout, stderr) = run_child("child_retention", &root, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let mut rotated = 0;
    for name in names_in(&logs) {
        let path = logs.join(&name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("young-1") && !text.contains("old-"),
            "{name} keeps a backup older than two days"
        );
        if name.starts_with("main.jsonl.") && name != "main.jsonl.old" {
            rotated += 1;
            let age = SystemTime::now()
                .duration_since(std::fs::metadata(&path).unwrap().modified().unwrap())
                .unwrap_or_default();
            assert!(age < 2 * DAY, "{name}");
        }
    }
    assert!(
        rotated >= 2,
        "the child's lines rotated: {:?}",
        names_in(&logs)
    );
    assert!(logs.join("notes.txt").exists() && logs.join("main.jsonl.old").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// Child: the log directory cannot be created.
#[test]
fn child_dir_unavailable() {
    if !is_child() {
        return;
    }
    let guard = observa::init_from_env().expect("init carries on without the files");
    tracing::info!(target: "app", "app line");
    tracing::info!(target: "webhooks", "hook line");
    drop(guard);
    println!("{}", observa::metrics::render());
}

#[test]
fn a_directory_that_cannot_be_created_is_a_warning_and_stdout_keeps_every_line() {
    if is_child() {
        return;
    }
    let root = temp_dir("nodir");
    // A regular file where a directory should be: nothing can be created under it.
    std::fs::write(root.join("plain"), b"x").unwrap();
    let dir = root.join("plain/logs");
    let (ok, stdout, stderr) = run_child(
        "child_dir_unavailable",
        &root,
        &[
            ("OBSERVA_LOG_DIR", dir.display().to_string()),
            ("OBSERVA_LOG_ROUTES", "webhooks".to_owned()),
        ],
    );
    assert!(ok, "no panic, init succeeds: {stdout}\n{stderr}");
    check_dir_unavailable(&dir, &stdout);
    // In production the allowlist filters `dir`; the message still names it.
    let (ok, stdout, stderr) = run_child(
        "child_dir_unavailable",
        &root,
        &[
            ("OBSERVA_ENV", "production".to_owned()),
            ("OBSERVA_LOG_DIR", dir.display().to_string()),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let out = json_lines(&stdout);
    let warn = out
        .iter()
        .find(|v| v["event"] == "observa.log_dir_unavailable")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(warn["dir"], "[FILTERED]");
    let m = warn["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(
            "log directory {} could not be created (",
            dir.display()
        )),
        "{m}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn check_dir_unavailable(dir: &Path, stdout: &str) {
    let out = json_lines(stdout);
    // One structured warning for the directory (not one per file)...
    let warns: Vec<&serde_json::Value> = out
        .iter()
        .filter(|v| v["event"] == "observa.log_dir_unavailable")
        .collect();
    assert_eq!(warns.len(), 1, "{stdout}");
    assert_eq!(warns[0]["level"], "warn");
    assert_eq!(warns[0]["dir"], dir.display().to_string());
    assert!(warns[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    // ... each file that is off says so ...
    let files: Vec<&str> = out
        .iter()
        .filter(|v| v["event"] == "observa.log_file_unavailable")
        .filter_map(|v| v["path"].as_str())
        .collect();
    assert_eq!(
        files,
        [
            dir.join("app.jsonl").display().to_string(),
            dir.join("webhooks.jsonl").display().to_string()
        ]
    );
    // ... no sink line claims a file, and every line is on stdout.
    assert!(!out.iter().any(|v| v["event"] == "observa.log_sink"));
    for m in ["app line", "hook line"] {
        assert!(out.iter().any(|v| v["message"] == m), "{m}: {stdout}");
    }
    assert!(
        stdout.contains("observa_internal_errors_total{kind=\"log_file\"} 2"),
        "{stdout}"
    );
}

/// Child: a route that names the main file.
#[test]
fn child_route_on_main_file() {
    if !is_child() {
        return;
    }
    let e = observa::init_from_env().unwrap_err();
    println!("init error: {e}");
}

#[test]
fn a_route_naming_the_main_file_is_refused() {
    if is_child() {
        return;
    }
    let root = temp_dir("route-main");
    let (ok, stdout, stderr) = run_child(
        "child_route_on_main_file",
        &root,
        &[
            ("OBSERVA_LOG_DIR", root.display().to_string()),
            ("OBSERVA_LOG_ROUTES", "webhooks=app.jsonl".to_owned()),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("init error: observa configuration: invalid `OBSERVA_LOG_ROUTES`")
            && stdout.contains("names the main log file"),
        "{stdout}"
    );
    // Nothing was installed, nothing was created.
    assert!(names_in(&root).is_empty(), "{:?}", names_in(&root));
    let _ = std::fs::remove_dir_all(&root);
}
