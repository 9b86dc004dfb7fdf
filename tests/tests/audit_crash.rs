//! Crash test: a child process appends from several threads and prints every acknowledged
//! record; it is SIGKILLed at a random moment (also during start-up and store creation), 200
//! times over 8 trails that keep growing across crashes. Afterwards every acknowledged record is
//! in its trail with the sequence number it was acknowledged with, and every trail verifies.

mod audit_support;

use audit_support::*;
use observa::audit;
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn acknowledged_records_survive_sigkill() {
    const RUNS: usize = 200;
    const TRAILS: usize = 8;
    let dir = TempDir::new("crash");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = XorShift(seed);
    let mut acked: Vec<HashMap<String, u64>> = vec![HashMap::new(); TRAILS];
    let mut runs_with_acks = 0;
    let mut killed_before_open = 0;
    for run in 0..RUNS {
        let t = run % TRAILS;
        let url = dir.url(&format!("trail{t}.db"));
        let threads = 1 + rng.next() % 4;
        let mut child = Command::new(CHILD)
            .args(["append", &url, &threads.to_string(), "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            // Only complete lines count: a line cut by the kill was never fully reported.
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') && tx.send(line.trim_end().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let mut lines = Vec::new();
        if rng.next().is_multiple_of(4) {
            // A quarter of the kills land during start-up (store creation, `audit.started`).
            std::thread::sleep(Duration::from_millis(rng.next() % 15));
        } else {
            // The rest while appending: wait until the store is open, then a random moment.
            while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
                let opened = l == "opened";
                lines.push(l);
                if opened {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(rng.next() % 30));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child must have been killed");
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        if !lines.iter().any(|l| l == "opened") {
            killed_before_open += 1;
        }
        let mut any = false;
        for l in &lines {
            let mut parts = l.split(' ');
            match parts.next() {
                Some("ack") => {
                    let seq: u64 = parts.next().unwrap().parse().unwrap();
                    let target = parts.next().unwrap().to_owned();
                    let previous = acked[t].insert(target.clone(), seq);
                    assert!(previous.is_none(), "target {target} acknowledged twice");
                    any = true;
                }
                Some("err") => panic!("run {run}: a healthy store reported an error: {l}"),
                _ => {}
            }
        }
        if any {
            runs_with_acks += 1;
        }
    }
    eprintln!(
        "{RUNS} kills: {runs_with_acks} after acknowledgements, {killed_before_open} before the store was open; {} records acknowledged",
        acked.iter().map(HashMap::len).sum::<usize>()
    );
    assert!(
        runs_with_acks >= RUNS / 2,
        "too few runs reached an acknowledgement ({runs_with_acks}): the test would prove little"
    );

    for (t, acks) in acked.iter().enumerate() {
        let path = dir.path().join(format!("trail{t}.db"));
        let url = dir.url(&format!("trail{t}.db"));
        if !path.exists() {
            assert!(acks.is_empty());
            continue;
        }
        let report = audit::verify(&url).unwrap_or_else(|e| panic!("trail {t}: {e}"));
        let (code, out, _) = cli_verify(&url, &[]);
        assert_eq!(code, 0, "trail {t}: {out}");
        let c = rusqlite::Connection::open(&path).unwrap();
        let stored: HashMap<String, u64> = c
            .prepare("SELECT target, seq FROM audit_records WHERE target IS NOT NULL")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (target, seq) in acks {
            assert_eq!(
                stored.get(target),
                Some(seq),
                "trail {t}: acknowledged record {target} (seq {seq}) is missing or moved"
            );
        }
        assert!(report.records as usize >= acks.len());
    }
}
