//! A fast thread-local pseudo-random source for ids and sampling.
//!
//! Not for secrets: ids must be unique and unguessable enough to not collide, not
//! cryptographically strong. Seeded per thread from the std `RandomState` (OS randomness).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() | 1
}

/// A random `u64` (SplitMix64).
#[inline]
pub fn u64() -> u64 {
    STATE.with(|s| {
        let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A random `u128`.
#[inline]
pub fn u128() -> u128 {
    ((u64() as u128) << 64) | u64() as u128
}

/// A uniform float in `[0, 1)`.
#[inline]
pub fn unit_f64() -> f64 {
    (u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
