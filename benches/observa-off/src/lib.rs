//! A fn annotated with `#[observa::observed]` built with observa's `enabled` feature off, and the
//! same fn bare, compiled alike.

use std::hint::black_box;

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17)
        ^ 0x5bd1_e995
}

/// The fn alone.
#[inline(never)]
pub fn bare(x: u64) -> u64 {
    work(x)
}

/// The same fn under `#[observed]` with instrumentation off.
#[observa::observed]
#[inline(never)]
pub fn observed_off(x: u64) -> u64 {
    work(x)
}
