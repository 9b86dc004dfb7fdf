//! Redacted `Debug` of `#[derive(observa::Redact)]` against `#[derive(Debug)]` (no redaction,
//! the bar) and veil's `#[derive(veil::Redact)]`, on the same 4-field struct with two sensitive
//! fields. Results and ratios: `benches/REDACT_RESULTS.md`.
//!
//! Variants, by criterion id `redact_debug/<sink>/<id>`, each formatting `{:?}` into
//! - `string`: a `String` reused across iterations (cleared, capacity kept), or
//! - `discard`: a `fmt::Write` that drops the text (through `black_box`, so the formatting
//!   still runs; `io::sink()` is not used because std skips formatting for it);
//!
//! ids:
//! - `derive_debug`: `#[derive(Debug)]`, every field in plain text;
//! - `observa_full`: `password` masked by its name, `email` by `#[redact]`;
//! - `observa_partial`: `email` with `#[redact(email)]` instead (first char and domain);
//! - `veil`: veil's `#[redact]` on both (veil's default: the value with every char replaced).
//!
//! Run: `cargo bench --manifest-path benches/Cargo.toml --bench redact`

use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt;
use std::fmt::Write as _;
use std::hint::black_box;

#[derive(Debug)]
#[allow(dead_code)]
struct Plain {
    user_id: u64,
    email: String,
    password: String,
    remember_me: bool,
}

#[derive(observa::Redact)]
#[allow(dead_code)]
struct ObservaFull {
    user_id: u64,
    #[redact]
    email: String,
    password: String,
    remember_me: bool,
}

#[derive(observa::Redact)]
#[allow(dead_code)]
struct ObservaPartial {
    user_id: u64,
    #[redact(email)]
    email: String,
    password: String,
    remember_me: bool,
}

#[derive(veil::Redact)]
#[allow(dead_code)]
struct Veil {
    user_id: u64,
    #[redact]
    email: String,
    #[redact]
    password: String,
    remember_me: bool,
}

const EMAIL: &str = "jane.doe@example.com";
const PASSWORD: &str = "correct horse battery staple";

fn bench(c: &mut Criterion) {
    let plain = Plain {
        user_id: 42,
        email: EMAIL.into(),
        password: PASSWORD.into(),
        remember_me: true,
    };
    let full = ObservaFull {
        user_id: 42,
        email: EMAIL.into(),
        password: PASSWORD.into(),
        remember_me: true,
    };
    let partial = ObservaPartial {
        user_id: 42,
        email: EMAIL.into(),
        password: PASSWORD.into(),
        remember_me: true,
    };
    let veil = Veil {
        user_id: 42,
        email: EMAIL.into(),
        password: PASSWORD.into(),
        remember_me: true,
    };

    let mut g = c.benchmark_group("redact_debug/string");
    let mut buf = String::with_capacity(256);
    macro_rules! into_string {
        ($id:literal, $v:expr) => {
            g.bench_function($id, |b| {
                b.iter(|| {
                    buf.clear();
                    let _ = write!(buf, "{:?}", black_box(&$v));
                    black_box(buf.len())
                })
            });
        };
    }
    into_string!("derive_debug", plain);
    into_string!("observa_full", full);
    into_string!("observa_partial", partial);
    into_string!("veil", veil);
    g.finish();

    let mut g = c.benchmark_group("redact_debug/discard");
    macro_rules! into_discard {
        ($id:literal, $v:expr) => {
            g.bench_function($id, |b| {
                b.iter(|| {
                    let _ = write!(Discard, "{:?}", black_box(&$v));
                })
            });
        };
    }
    into_discard!("derive_debug", plain);
    into_discard!("observa_full", full);
    into_discard!("observa_partial", partial);
    into_discard!("veil", veil);
    g.finish();
}

/// A writer that drops the text without letting the optimiser drop the formatting.
struct Discard;

impl fmt::Write for Discard {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        black_box(s);
        Ok(())
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
