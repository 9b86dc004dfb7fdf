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
pub(crate) fn u64() -> u64 {
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
pub(crate) fn u128() -> u128 {
    ((u64() as u128) << 64) | u64() as u128
}

/// A uniform float in `[0, 1)`.
#[inline]
pub(crate) fn unit_f64() -> f64 {
    (u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A UUID version 7 string (48-bit Unix milliseconds, 74 random bits): sortable by creation
/// time. The id of audit records and trails.
pub(crate) fn uuid_v7(t: std::time::SystemTime) -> String {
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
        & 0xFFFF_FFFF_FFFF;
    let (r1, r2) = (u64(), u64());
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6..8].copy_from_slice(&((r1 as u16 & 0x0FFF) | 0x7000).to_be_bytes());
    b[8..].copy_from_slice(&((r2 & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000).to_be_bytes());
    let h = super::hex::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_v7_shape() {
        let a = super::uuid_v7(std::time::SystemTime::now());
        let b = super::uuid_v7(std::time::SystemTime::now());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }
}
