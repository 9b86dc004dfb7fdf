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
    fn lower_u128() {
        assert_eq!(parse_lower_u128("ff"), Some(255));
        assert_eq!(parse_lower_u128("FF"), None);
        assert_eq!(parse_lower_u128(""), None);
        assert_eq!(parse_lower_u128(&"f".repeat(33)), None);
        assert!(is_hash_hex(&"a".repeat(64)) && !is_hash_hex(&"A".repeat(64)));
    }
}
