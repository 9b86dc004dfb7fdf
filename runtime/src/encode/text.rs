//! Bounding text with the one truncation marker, and short type names: the same cut and the same
//! `error_type` in every sink (log lines, audit records, Sentry, HTTP failures).

/// The marker appended to a value cut at its size bound.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// `s` cut to at most `max` bytes on a char boundary, and whether it was cut.
#[inline]
pub(crate) fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// `s` cut to at most `max` bytes on a char boundary (no marker).
#[inline]
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    cut(s, max).0
}

/// `s` appended to `out`, cut to `max` bytes with [`TRUNCATION_MARKER`] after the cut.
pub(crate) fn push_bounded(out: &mut String, s: &str, max: usize) {
    let (head, was_cut) = cut(s, max);
    out.push_str(head);
    if was_cut {
        out.push_str(TRUNCATION_MARKER);
    }
}

/// `s` cut so that it and the marker fit in `max` bytes (the audit record form: a stored field
/// never exceeds its bound).
pub(crate) fn bound_owned(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let keep = cut(&s, max.saturating_sub(TRUNCATION_MARKER.len())).0.len();
    s.truncate(keep);
    s.push_str(TRUNCATION_MARKER);
    s
}

/// `a::b::C<d::E>` -> `C<d::E>`: the last path segment before any generics. The `error_type` of
/// every sink, without allocating.
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let head = full.split('<').next().unwrap_or(full);
    match head.rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_char_boundaries() {
        assert_eq!(cut("héllo", 2), ("h", true));
        assert_eq!(cut("héllo", 3), ("hé", true));
        assert_eq!(cut("hi", 2), ("hi", false));
        let mut s = String::new();
        push_bounded(&mut s, "abcdef", 3);
        assert_eq!(s, format!("abc{TRUNCATION_MARKER}"));
        let b = bound_owned("é".repeat(40), 20);
        assert!(b.len() <= 20 && b.ends_with(TRUNCATION_MARKER), "{b}");
        assert_eq!(bound_owned("short".into(), 20), "short");
    }

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("std::io::Error"), "Error");
        assert_eq!(short_type_name("a::b::C<d::E>"), "C<d::E>");
        assert_eq!(short_type_name("u8"), "u8");
    }
}
