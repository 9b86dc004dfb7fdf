//! Child process for the audit tests. Not a user-facing tool.
//!
//! ```text
//! audit_child append <url> <threads> <per_thread> [--fsize BYTES] [--close] [--checkpoint-every N]
//!     appends from <threads> threads (<per_thread> each; 0 = until killed), printing
//!     `ack <seq> <target>` after each acknowledged record and `err <target> <kind>` after each
//!     failure, one line each, flushed at once. `--fsize` sets RLIMIT_FSIZE (a full device
//!     simulation: writes past it fail with EFBIG) before opening the store.
//! audit_child open <url>
//!     prints `opened` or `error <kind>`.
//! audit_child degrade
//!     uses the global auditor (from OBSERVA_AUDIT_URL) with both policies (the degrading one
//!     inside a scope with bound fields) and prints what it got.
//! audit_child witness <n>
//!     installs observa from the environment (`observa::init_from_env`, so `OBSERVA_LOG_FILE`
//!     receives the `audit.checkpoint` lines), opens the auditor from the environment, appends
//!     <n> records, closes it and prints `done`.
//! ```

use observa::audit::{self, AuditConfig, AuditOutcome, Auditor, NewRecord, Policy, Receipt};
use std::io::Write as _;
use std::process::ExitCode;

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(line.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

fn set_fsize(bytes: u64) {
    // SAFETY: plain libc calls with valid arguments, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
            out("error setrlimit");
            std::process::exit(3);
        }
    }
}

fn append(args: &[String]) -> ExitCode {
    let (Some(url), Some(threads), Some(per)) = (args.first(), args.get(1), args.get(2)) else {
        out("usage");
        return ExitCode::from(2);
    };
    let threads: usize = threads.parse().unwrap_or(1);
    let per: u64 = per.parse().unwrap_or(0);
    let mut close = false;
    let mut every = None;
    let mut i = 3;
    while i < args.len() {
        match args[i].as_str() {
            "--fsize" => {
                set_fsize(args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(0));
                i += 1;
            }
            "--checkpoint-every" => {
                every = args.get(i + 1).and_then(|v| v.parse().ok());
                i += 1;
            }
            "--close" => close = true,
            _ => {}
        }
        i += 1;
    }
    let mut config = AuditConfig::new(url.clone());
    if let Some(n) = every {
        config = config.with_checkpoint_every(n);
    }
    let auditor = match Auditor::open(config) {
        Ok(a) => a,
        Err(e) => {
            out(&format!("error {}", e.kind()));
            return ExitCode::from(1);
        }
    };
    out("opened");
    let pid = std::process::id();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let a = auditor.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while per == 0 || n < per {
                    let target = format!("p{pid}-t{t}-n{n}");
                    let rec = NewRecord::new("test.append", format!("actor-{t}"))
                        .target(target.clone())
                        .changes(serde_json::json!({"n": n}), serde_json::json!({"n": n + 1}));
                    match a.append(rec) {
                        Ok(r) => out(&format!("ack {} {target}", r.seq)),
                        Err(e) => out(&format!("err {target} {}", e.kind())),
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    if close {
        match auditor.close() {
            Ok(()) => out("closed"),
            Err(e) => out(&format!("close-error {}", e.kind())),
        }
    }
    ExitCode::SUCCESS
}

fn degrade() -> ExitCode {
    let rec = || NewRecord::new("user.suspend", "admin-1").target("user-2");
    match audit::begin(rec(), Policy::FailClosed) {
        Ok(_) => out("fail_closed begin ok"),
        Err(e) => out(&format!("fail_closed begin error {}", e.kind())),
    }
    // Inside a scope with bound fields (one under a sensitive name): the fallback keeps them.
    observa::Context::new().scope(|| {
        let _ = observa::context::bind_field("job_id", "job-99");
        let _ = observa::context::bind_field("api_key", "fallback-canary-key");
        match audit::begin(rec(), Policy::DegradeAndAlert) {
            Ok(attempt) => {
                out(&format!(
                    "degrade begin ok stored={}",
                    attempt.attempted().is_some()
                ));
                match attempt.finish(AuditOutcome::Success) {
                    Ok(Receipt::Degraded) => out("degrade finish degraded"),
                    Ok(_) => out("degrade finish stored"),
                    Err(e) => out(&format!("degrade finish error {}", e.kind())),
                }
            }
            Err(e) => out(&format!("degrade begin error {}", e.kind())),
        }
    });
    out(&format!(
        "counts degraded={} lost={}",
        audit::degraded_count(),
        audit::lost_count()
    ));
    ExitCode::SUCCESS
}

fn witness(args: &[String]) -> ExitCode {
    let n: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(0);
    let guard = match observa::init_from_env() {
        Ok(g) => g,
        Err(e) => {
            out(&format!("error init {e}"));
            return ExitCode::from(1);
        }
    };
    let auditor = match AuditConfig::from_env().and_then(Auditor::open) {
        Ok(a) => a,
        Err(e) => {
            out(&format!("error {}", e.kind()));
            return ExitCode::from(1);
        }
    };
    for i in 0..n {
        let rec = NewRecord::new("test.witness", format!("actor-{i}")).target(format!("t{i}"));
        if let Err(e) = auditor.append(rec) {
            out(&format!("err {}", e.kind()));
            return ExitCode::from(1);
        }
    }
    if let Err(e) = auditor.close() {
        out(&format!("close-error {}", e.kind()));
        return ExitCode::from(1);
    }
    // Flushes the log writers.
    drop(guard);
    out("done");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("append") => append(&args[1..]),
        Some("open") => match args
            .get(1)
            .map(|u| Auditor::open(AuditConfig::new(u.clone())))
        {
            Some(Ok(a)) => {
                out("opened");
                drop(a);
                ExitCode::SUCCESS
            }
            Some(Err(e)) => {
                out(&format!("error {}", e.kind()));
                ExitCode::from(1)
            }
            None => ExitCode::from(2),
        },
        Some("degrade") => degrade(),
        Some("witness") => witness(&args[1..]),
        _ => {
            out("usage: audit_child append|open|degrade ...");
            ExitCode::from(2)
        }
    }
}
