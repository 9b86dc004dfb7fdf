//! Lowercase hex, the one encoder and decoder of the crate (ids, hashes, keys, fingerprints,
//! JSON `\u` escapes).

/// The digits, lowercase.
pub(crate) const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes the lowercase hex of `bytes` into `out`, which must be exactly twice as long.
#[inline]
pub(crate) fn encode_into(out: &mut [u8], bytes: &[u8]) {
    debug_assert_eq!(out.len(), 2 * bytes.len());
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[(b >> 4) as usize];
        pair[1] = DIGITS[(b & 0xf) as usize];
    }
}

/// The 32 lowercase hex digits of `v` (most significant first), computed a word at a time
/// (every nibble spread to its own byte, then all turned to digits at once): the correlation id
/// a log line generates costs a few dozen instructions instead of a table lookup per digit.
#[inline]
pub(crate) fn u128_digits(v: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&u64_digits((v >> 64) as u64));
    out[16..].copy_from_slice(&u64_digits(v as u64));
    out
}

/// The 16 lowercase hex digits of `v` (most significant first).
#[inline]
pub(crate) fn u64_digits(v: u64) -> [u8; 16] {
    const LOW: u128 = 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f;
    const ONES: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let mut x = u128::from(v);
    x = (x | x << 32) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    x = (x | x << 16) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    x = (x | x << 4) & LOW;
    // Byte i holds nibble i; a nibble above 9 gets `'a' - '0' - 10` more.
    let above9 = ((x + 6 * ONES) >> 4) & ONES;
    (x + b'0' as u128 * ONES + above9 * u128::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; 2 * bytes.len()];
    encode_into(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes hex (either case); `None` on odd length or a non-hex digit.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Parses 1 to 32 lowercase hex digits (the W3C trace-context form: uppercase is refused).
pub(crate) fn parse_lower_u128(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// True for a 64-character lowercase hex string (the form of every hash observa writes).
pub(crate) fn is_hash_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&b), "0001abff");
        assert_eq!(unhex("0001ABff").unwrap(), b);
        assert!(unhex("abc").is_none() && unhex("zz").is_none());
        let mut out = [0u8; 8];
        encode_into(&mut out, &b);
        assert_eq!(&out, b"0001abff");
    }

    #[test]
    fn u128_digits_is_hex() {
        for v in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            0xa0a0_9f9f_0a0a_f9f9_1234_5678_9abc_def0,
        ] {
            assert_eq!(&u128_digits(v), hex(&v.to_be_bytes()).as_bytes(), "{v:x}");
        }
        let mut s = 0x9e37_79b9_7f4a_7c15_u128;
        for _ in 0..1000 {
            s = s.wrapping_mul(0x2545_f491_4f6c_dd1d_9e37_79b9_7f4a_7c15) ^ (s >> 61);
            assert_eq!(&u128_digits(s), hex(&s.to_be_bytes()).as_bytes());
        }
    }

    #[test]
    fn lower_u128() {
        assert_eq!(parse_lower_u128("ff"), Some(255));
        assert_eq!(parse_lower_u128("FF"), None);
        assert_eq!(parse_lower_u128(""), None);
        assert_eq!(parse_lower_u128(&"f".repeat(33)), None);
        assert!(is_hash_hex(&"a".repeat(64)) && !is_hash_hex(&"A".repeat(64)));
    }
}
