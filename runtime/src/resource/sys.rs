//! What the platform reports about the current thread: CPU time and I/O bytes.

/// CPU time the current thread has used, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`, through
/// `rustix`). `None` where the platform has no per-thread CPU clock.
#[inline]
pub(crate) fn thread_cpu_ns() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Some((t.tv_sec as u64).wrapping_mul(1_000_000_000) + t.tv_nsec as u64)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

/// I/O counters of the current thread from `/proc/thread-self/io`: `(rchar, wchar, len)`,
/// where `len` is the size of the text read (which the kernel adds to `rchar` of the next
/// reading: the caller subtracts it). `None` off Linux or when the file cannot be read
/// (hardened `/proc`, some sandboxes).
pub(crate) fn thread_io() -> Option<(u64, u64, u64)> {
    #[cfg(target_os = "linux")]
    {
        use std::io::Read;
        let mut f = std::fs::File::open("/proc/thread-self/io").ok()?;
        let mut buf = [0u8; 512];
        let mut n = 0;
        loop {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if n == buf.len() {
                        break;
                    }
                }
                Err(_) => return None,
            }
        }
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let (mut r, mut w) = (None, None);
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("rchar:") {
                r = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("wchar:") {
                w = v.trim().parse().ok();
            }
        }
        Some((r?, w?, n as u64))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
