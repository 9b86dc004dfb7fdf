//! Property tests of the two parsers that read attacker-controlled context: request ids
//! (`X-Request-ID`, job payloads) and W3C `traceparent`. Random input never panics; each parser
//! accepts exactly what an independent reading of the rules accepts; all-zero ids are refused;
//! valid values round-trip.

use observa::carrier::JobContext;
use observa::http::{TraceParent, is_valid_request_id};
use proptest::prelude::*;

/// The request id rule, written independently: 1 to 128 bytes of `[A-Za-z0-9._:-]`, not only
/// zeros and separators.
fn request_id_oracle(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=128).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
        && b.iter().any(|c| !b"0._:-".contains(c))
}

fn lower_hex(p: &str, n: usize) -> Option<u128> {
    (p.len() == n && p.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| u128::from_str_radix(p, 16).ok())
        .flatten()
}

/// The W3C trace-context rule, written independently (by fields rather than by offsets):
/// optional spaces/tabs around; version 2 lowercase hex, not `ff`; trace id 32 and parent id 16
/// lowercase hex, neither all zero; flags 2 lowercase hex; version `00` ends there, a later
/// version may continue after a `-`. Header values are ASCII: anything else is refused.
fn traceparent_oracle(s: &str) -> Option<TraceParent> {
    let s = s.trim_matches([' ', '\t']);
    if !s.is_ascii() {
        return None;
    }
    let mut parts = s.splitn(5, '-');
    let (v, t, p, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next();
    let version = lower_hex(v, 2)?;
    if version == 0xff || (version == 0 && rest.is_some()) {
        return None;
    }
    let trace_id = lower_hex(t, 32)?;
    let parent_id = lower_hex(p, 16)? as u64;
    let flags = lower_hex(f, 2)? as u8;
    (trace_id != 0 && parent_id != 0).then_some(TraceParent {
        trace_id,
        parent_id,
        flags,
    })
}

fn valid_traceparent() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("00"),
            Just("01"),
            Just("cc"),
            Just("fe"),
            Just("ff"),
            Just("0F")
        ],
        prop_oneof![any::<u128>(), Just(0u128), 1u128..3],
        prop_oneof![any::<u64>(), Just(0u64)],
        any::<u8>(),
        prop_oneof![
            Just(String::new()),
            Just("-future".to_owned()),
            Just("x".to_owned()),
            Just("-".to_owned())
        ],
    )
        .prop_map(|(v, t, p, f, tail)| format!("{v}-{t:032x}-{p:016x}-{f:02x}{tail}"))
}

/// A near-valid value with one edit: a replaced, inserted or removed character, whitespace
/// around, a cut.
fn mutated_traceparent() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        '0', '1', 'a', 'f', 'g', 'A', 'F', '-', ' ', '\t', '\n', 'é', '\u{2003}', '\0',
    ]);
    (
        valid_traceparent(),
        any::<prop::sample::Index>(),
        alphabet,
        0u8..6,
    )
        .prop_map(|(s, at, c, op)| {
            let mut chars: Vec<char> = s.chars().collect();
            let i = at.index(chars.len() + 1);
            match op {
                0 if i < chars.len() => chars[i] = c,
                1 => chars.insert(i, c),
                2 if i < chars.len() => {
                    chars.remove(i);
                }
                3 => {
                    chars.insert(0, c);
                    chars.push(c);
                }
                4 => chars.truncate(i),
                _ => {}
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn request_ids_accept_exactly_the_rule(s in prop_oneof![
        any::<String>(),
        "[0-9a-zA-Z._:\\- é\r\n\u{202e}]{0,140}",
        "[0._:\\-]{0,130}",
        "[0-9a-f]{32}",
    ]) {
        prop_assert_eq!(is_valid_request_id(&s), request_id_oracle(&s), "{:?}", s);
    }

    #[test]
    fn all_zero_request_ids_are_refused(s in "[0._:\\-]{1,128}") {
        prop_assert!(!is_valid_request_id(&s));
    }

    #[test]
    fn valid_request_ids_round_trip_through_a_job_payload(id in "[0-9a-zA-Z._:\\-]{0,127}[1-9a-zA-Z]") {
        prop_assert!(is_valid_request_id(&id));
        let job = JobContext { correlation_id: Some(id.clone()), ..JobContext::default() };
        let text = serde_json::to_string(&job).unwrap();
        let back: JobContext = serde_json::from_str(&text).unwrap();
        let ctx = back.into_context();
        prop_assert_eq!(ctx.correlation_id(), Some(id.as_str()));
    }

    #[test]
    fn invalid_request_ids_are_replaced_in_job_payloads(id in any::<String>()) {
        prop_assume!(!request_id_oracle(&id));
        let job = JobContext { correlation_id: Some(id.clone()), ..JobContext::default() };
        let ctx = job.into_context();
        let got = ctx.correlation_id().unwrap();
        prop_assert!(got != id && is_valid_request_id(got));
    }

    #[test]
    fn traceparents_accept_exactly_the_rule(s in prop_oneof![
        any::<String>(),
        "[0-9a-f\\- ]{50,60}",
        valid_traceparent(),
        mutated_traceparent(),
    ]) {
        prop_assert_eq!(TraceParent::parse(&s), traceparent_oracle(&s), "{:?}", s);
    }

    #[test]
    fn zero_ids_are_refused(t in any::<u128>(), p in any::<u64>(), f in any::<u8>(), which in 0u8..3) {
        let (t, p) = match which {
            0 => (0, p),
            1 => (t, 0),
            _ => (0, 0),
        };
        prop_assert_eq!(TraceParent::parse(&format!("00-{t:032x}-{p:016x}-{f:02x}")), None);
    }

    #[test]
    fn valid_traceparents_round_trip(t in 1u128.., p in 1u64.., f in any::<u8>()) {
        let tp = TraceParent { trace_id: t, parent_id: p, flags: f };
        let text = tp.to_string();
        prop_assert_eq!(TraceParent::parse(&text), Some(tp));
        prop_assert_eq!(TraceParent::parse(&format!(" \t{text}\t ")), Some(tp));
        // Through a job payload too.
        let ctx = observa::Context::new().with_traceparent(text.clone());
        let job = JobContext::from_context(&ctx);
        let back: JobContext = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        let restored = back.into_context();
        prop_assert_eq!(restored.traceparent(), Some(text.as_str()));
        // The sampled flag is one bit; the others are kept.
        prop_assert_eq!(tp.with_sampled(true).flags, f | 1);
        prop_assert_eq!(tp.with_sampled(false).flags, f & !1);
        prop_assert_eq!(tp.with_sampled(tp.sampled()), tp);
    }
}
