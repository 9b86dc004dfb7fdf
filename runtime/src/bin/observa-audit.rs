//! `observa-audit`: command-line tools for observa audit trails.
//!
//! ```text
//! observa-audit verify <url> [--public-key HEX] [--expect COUNT:HASH] [--witness FILE]... [--json]
//! ```
//!
//! `<url>` takes the same forms as `OBSERVA_AUDIT_URL` (`sqlite:PATH`, `postgres://…?schema=NAME`
//! when built with the `postgres` feature). Exit status: 0 when the trail is intact, 1 when it is
//! not (the first bad sequence number and the problem are printed), 2 when it cannot be read or
//! the arguments are wrong.

use observa::audit::{VerifyError, VerifyOptions, verify_with};
use std::process::ExitCode;

const USAGE: &str = "usage: observa-audit verify <url> [--public-key HEX] [--expect COUNT:HASH] [--witness FILE]... [--json]

Verifies an observa audit trail: every record's hash, the hash chain, gap-free sequence
numbers, and every checkpoint (and its Ed25519 signature).

  <url>                  sqlite:PATH or postgres://USER@HOST:PORT/DB?schema=NAME
  --public-key HEX       require every checkpoint to be signed by this Ed25519 key
  --expect COUNT:HASH    a checkpoint kept elsewhere (e.g. from an `audit.checkpoint` log line):
                         record COUNT must exist and have record_hash HASH
  --witness FILE         a log file (JSON lines or console) carrying `audit.checkpoint` lines:
                         every checkpoint of this trail in it must match the chain, and the
                         trail must reach the last one (catches a cut or rewritten tail);
                         repeatable
  --json                 print one JSON object instead of text

exit status: 0 intact, 1 not intact (first bad record named), 2 unreadable or usage error";

struct Args {
    url: String,
    opts: VerifyOptions,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("verify") => {}
        Some("-h" | "--help" | "help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}`; expected `verify`")),
        None => return Err("missing command; expected `verify`".to_owned()),
    }
    let mut url = None;
    let mut opts = VerifyOptions::default();
    let mut json = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--public-key" => {
                let k = it.next().ok_or("`--public-key` needs a value")?;
                opts = opts.trusted_key(k.clone());
            }
            "--witness" => {
                let f = it.next().ok_or("`--witness` needs a log file")?;
                opts = opts.witness_file(f).map_err(|e| e.to_string())?;
            }
            "--expect" => {
                let v = it.next().ok_or("`--expect` needs COUNT:HASH")?;
                let (n, h) = v
                    .split_once(':')
                    .ok_or("`--expect` needs COUNT:HASH, for example 1000:3f2a…")?;
                let n: u64 = n
                    .parse()
                    .map_err(|_| "`--expect` COUNT must be a whole number".to_owned())?;
                opts = opts.expect(n, h);
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") => return Err(format!("unknown option `{s}`")),
            s => {
                if url.replace(s.to_owned()).is_some() {
                    return Err("more than one <url> given".to_owned());
                }
            }
        }
    }
    let url = url.ok_or("missing <url>")?;
    Ok(Args { url, opts, json })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("observa-audit: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match verify_with(&args.url, &args.opts) {
        Ok(report) => {
            if args.json {
                let v = serde_json::json!({
                    "intact": true,
                    "store": report.store,
                    "trail": report.trail,
                    "records": report.records,
                    "head_hash": report.head_hash,
                    "checkpoints": report.checkpoints,
                    "signed_checkpoints": report.signed_checkpoints,
                    "witnessed": report.witnessed,
                    "signing_keys": report.signing_keys,
                    "first_time": report.first_time,
                    "last_time": report.last_time,
                    "clean_shutdown": report.clean_shutdown,
                });
                println!("{v}");
            } else {
                println!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(VerifyError::Tampered(f)) => {
            if args.json {
                let v = serde_json::json!({
                    "intact": false,
                    "first_bad_seq": f.seq,
                    "problem": f.problem.code(),
                    "detail": f.problem.to_string(),
                });
                println!("{v}");
            } else {
                println!("NOT intact: first bad record {}: {}", f.seq, f.problem);
            }
            ExitCode::from(1)
        }
        Err(e) => {
            if args.json {
                let v = serde_json::json!({ "intact": null, "error": e.to_string() });
                println!("{v}");
            } else {
                eprintln!("observa-audit: {e}");
            }
            ExitCode::from(2)
        }
    }
}
