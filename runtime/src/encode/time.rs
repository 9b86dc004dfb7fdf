//! Time, one home: the clock of durations, the wall clock of lines and spans, and RFC 3339, the
//! one writer of every sink (log lines, audit records, checkpoints).

use super::json::VecWriter;
use std::cell::Cell;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The monotonic clock of durations: `quanta` (TSC where available, calibrated once).
#[inline]
pub(crate) fn clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::LazyLock<quanta::Clock> = std::sync::LazyLock::new(quanta::Clock::new);
    &CLOCK
}

/// How long a thread's wall-clock anchor is used before `SystemTime::now()` is read again.
const ANCHOR_NS: u64 = 20_000_000;

/// Widest gap accepted between the two TSC readings around an anchor's system clock read.
const MAX_ANCHOR_GAP_NS: u64 = 5_000;

/// The wall-clock time now, for the timestamps of lines and spans.
///
/// Why not `SystemTime::now()` each time: on the virtual machines services run on, it costs
/// about 44 ns (a `clock_gettime` through the vDSO with the hypervisor's clock), 3x a TSC read
/// through [`clock`] (about 14 ns): 15% of a JSON line. Each thread reads the system clock
/// once per [`ANCHOR_NS`] and advances it by the TSC in between, so a timestamp is within a
/// few microseconds of the system clock (the TSC's calibration error over 20 ms), and follows
/// a step of the system clock (NTP, an operator) within 20 ms.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
#[inline]
pub(crate) fn wall_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(wall_nanos_at(clock().raw()))
}

/// The wall-clock time of a raw [`clock`] reading taken on this thread a moment ago (the end
/// of a call, already read for its duration), in nanoseconds since the epoch (0 before it):
/// the stamp of that call's line without a third TSC read (about 10 ns on these machines).
/// A reading older than the thread's anchor (taken before the anchor was renewed) gets the
/// time of the renewal: later than the reading by the work done since (what the stamp was
/// before it came from the call's end).
#[inline]
pub(crate) fn wall_nanos_at(raw: u64) -> u64 {
    thread_local! {
        /// (raw clock reading, nanoseconds since the epoch) read together; (0, 0): none yet.
        static ANCHOR: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    let (at, wall) = ANCHOR.get();
    if wall != 0 && raw >= at {
        let d = clock().delta_as_nanos(at, raw);
        if d < ANCHOR_NS {
            return wall.saturating_add(d);
        }
    }
    epoch_nanos(anchor(&ANCHOR))
}

/// Nanoseconds since the epoch of `t` (0 before it, which the writers print as the epoch).
fn epoch_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0))
}

#[cold]
#[inline(never)]
fn anchor(cell: &'static std::thread::LocalKey<Cell<(u64, u64)>>) -> SystemTime {
    let c = clock();
    // The system clock read between two TSC readings close together: a thread preempted
    // between them (a busy host) would otherwise anchor every stamp of the next 20 ms off by
    // the pause. A few tries; the last pair is taken whatever its gap.
    let mut pair = (0, SystemTime::now());
    for _ in 0..4 {
        let before = c.raw();
        let now = SystemTime::now();
        let after = c.raw();
        pair = (before + (after.saturating_sub(before)) / 2, now);
        if c.delta_as_nanos(before, after) < MAX_ANCHOR_GAP_NS {
            break;
        }
    }
    let (at, now) = pair;
    // Before the epoch (a clock set far back): no anchor, the system clock every time.
    cell.set((at, epoch_nanos(now)));
    now
}

/// Writes `t` as RFC 3339 UTC with microseconds: `2026-11-22T04:53:08.123456Z`.
pub fn write_timestamp(out: &mut Vec<u8>, t: SystemTime) {
    write_timestamp_nanos(out, epoch_nanos(t));
}

/// [`write_timestamp`] of a time in nanoseconds since the epoch ([`wall_nanos_at`]).
pub(crate) fn write_timestamp_nanos(out: &mut Vec<u8>, nanos: u64) {
    // The `YYYY-MM-DDTHH:MM:SS.` prefix changes once a second: cache it per thread and write
    // only the microseconds (the hot path of every log line).
    thread_local! {
        static PREFIX: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
    }
    let secs = nanos / 1_000_000_000;
    let micros = (nanos % 1_000_000_000 / 1_000) as u32;
    let (cached, prefix) = PREFIX.get();
    let prefix = if cached == secs {
        prefix
    } else {
        let mut v = Vec::with_capacity(20);
        write_date_time(&mut v, secs as i64);
        match <[u8; 20]>::try_from(v.as_slice()) {
            Ok(p) => {
                PREFIX.set((secs, p));
                p
            }
            // A year outside 0000..=9999: no cache.
            Err(_) => {
                out.extend_from_slice(&v);
                let _ = write!(VecWriter(out), "{micros:06}Z");
                return;
            }
        }
    };
    out.extend_from_slice(&prefix);
    let mut digits = [b'0'; 7];
    let mut m = micros;
    for d in digits[..6].iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    digits[6] = b'Z';
    out.extend_from_slice(&digits);
}

/// `YYYY-MM-DDTHH:MM:SS.` for `secs` since the epoch.
fn write_date_time(out: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let _ = write!(
        VecWriter(out),
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
}

/// RFC 3339 UTC timestamp with microseconds, as a `String`.
pub fn timestamp_string(t: SystemTime) -> String {
    let mut v = Vec::with_capacity(27);
    write_timestamp(&mut v, t);
    String::from_utf8(v).unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (RFC 3339, UTC, microseconds) for `t`, as a `String`: the form
/// of audit record and checkpoint times. Times before the epoch are written as the epoch.
pub(crate) fn rfc3339_micros(t: SystemTime) -> String {
    let t = if t < UNIX_EPOCH { UNIX_EPOCH } else { t };
    timestamp_string(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_follows_the_system_clock_across_anchors() {
        let ns = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128;
        // At least 120 ms (six anchors) and at least 150 readings: on a loaded machine a
        // 300 us sleep can take milliseconds, and a time bound alone then took too few.
        let end = std::time::Instant::now() + Duration::from_millis(120);
        let mut n = 0;
        while n < 150 || std::time::Instant::now() < end {
            let before = ns(SystemTime::now());
            let w = ns(wall_now());
            let after = ns(SystemTime::now());
            assert!(
                before - 50_000 <= w && w <= after + 50_000,
                "{w} outside {before}..{after}"
            );
            n += 1;
            std::thread::sleep(Duration::from_micros(300));
        }
        assert!(n > 100);
    }

    #[test]
    fn timestamps() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(timestamp_string(t), "2026-11-18T11:06:40.123456Z");
        assert_eq!(
            timestamp_string(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp_string(leap), "2000-02-29T00:00:00.000000Z");
        // Same second again (cached prefix), other microseconds.
        let same = leap + std::time::Duration::from_micros(7);
        assert_eq!(timestamp_string(same), "2000-02-29T00:00:00.000007Z");
    }

    #[test]
    fn audit_form_of_known_instants() {
        use std::time::Duration;
        let t = UNIX_EPOCH + Duration::from_micros(951_782_400_000_001); // 2000-02-29
        assert_eq!(rfc3339_micros(t), "2000-02-29T00:00:00.000001Z");
        assert_eq!(rfc3339_micros(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_micros(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000000Z"
        );
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799) + Duration::from_micros(999_999);
        assert_eq!(rfc3339_micros(t), "2099-12-31T23:59:59.999999Z");
    }
}
