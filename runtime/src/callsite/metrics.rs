//! The metrics of a site: the call counter by outcome, the duration histogram and the in-flight
//! gauge, resolved once per site (on its first call) and cached in the site.
//!
//! Counts are kept per thread ([`Shard`]: one writer, its thread, so an update is a relaxed
//! load and store, no locked read-modify-write) and summed at scrape time into the series of
//! the `prometheus` families ([`crate::metrics::add_fold`]), whose exposition stays what it
//! was (same families, names, labels, buckets). A thread's shards are merged into the site's
//! totals when the thread exits and reused by the next thread, so memory stays bounded by the
//! number of threads alive at once. `prometheus`'s own per-thread buffers (`LocalHistogram`,
//! `LocalIntCounter`) cannot be used for this: only their owning thread can read or flush them,
//! so a scrape on another thread would miss the calls made since the last flush.

use super::site::Site;
use crate::outcome::Outcome;
use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One thread's counts for one site. Written only by its thread; read by scrapes.
struct Shard {
    started: AtomicU64,
    calls: [AtomicU64; 5],
    /// Per bucket (not cumulative), plus one above every bound.
    buckets: Box<[AtomicU64]>,
    /// Sum of the durations in raw clock ticks, below the site's [`SiteMetrics::fold`] (then
    /// folded into the site's totals in seconds); [`super::core::secs`] converts at scrape time.
    sum: AtomicU64,
}

/// A thread's shard, handed from the start of a call to its end on the same thread (never
/// kept across threads: each shard has a single writer).
#[derive(Clone, Copy)]
pub(super) struct ShardRef(&'static Shard);

/// Adds `n` to a counter only this thread writes (no locked instruction).
#[inline(always)]
fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Shard {
    fn new(buckets: usize) -> Shard {
        Shard {
            started: AtomicU64::new(0),
            calls: Default::default(),
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Moves this shard's counts into `t` (the shard is left at zero).
    fn drain_into(&self, t: &mut Totals) {
        t.started += self.started.swap(0, Ordering::Relaxed);
        for (t, c) in t.calls.iter_mut().zip(&self.calls) {
            *t += c.swap(0, Ordering::Relaxed);
        }
        for (t, b) in t.buckets.iter_mut().zip(self.buckets.iter()) {
            *t += b.swap(0, Ordering::Relaxed);
        }
        t.sum += super::core::secs(self.sum.swap(0, Ordering::Relaxed));
    }

    fn add_to(&self, t: &mut Totals) {
        t.started += self.started.load(Ordering::Relaxed);
        for (t, c) in t.calls.iter_mut().zip(&self.calls) {
            *t += c.load(Ordering::Relaxed);
        }
        for (t, b) in t.buckets.iter_mut().zip(self.buckets.iter()) {
            *t += b.load(Ordering::Relaxed);
        }
        t.sum += super::core::secs(self.sum.load(Ordering::Relaxed));
    }
}

/// Counts summed over threads.
#[derive(Clone, Default)]
struct Totals {
    started: u64,
    calls: [u64; 5],
    buckets: Vec<u64>,
    /// In seconds.
    sum: f64,
}

struct Shards {
    /// Shards of the threads alive.
    live: Vec<&'static Shard>,
    /// Shards of threads that exited, at zero, for the next threads.
    free: Vec<&'static Shard>,
    /// Counts of the threads that exited (and of calls made while a thread exits).
    retired: Totals,
}

pub(super) struct SiteMetrics {
    /// This site's slot in every thread's table of shards.
    slot: usize,
    /// Upper bounds of the duration buckets (the family's), as the first raw clock duration
    /// above each ([`ticks_above`]): a call's bucket is found from its raw duration, with no
    /// conversion to seconds on the metrics-only path (the scaling, the integer-to-float
    /// conversion and the float compares sat between the second clock read and the end of the
    /// call: `perf annotate` put a fifth of the metrics-only call's samples on them).
    above: Box<[u64]>,
    /// A shard's tick sum is folded into the totals (in seconds) when it reaches this:
    /// [`tick_limit`], so the sum never wraps (many calls in progress at once add up to years
    /// of call time in days) and its conversion to seconds never overflows.
    fold: u64,
    shards: Mutex<Shards>,
}

/// A thread's shards, by site slot; merged into their sites when the thread exits.
struct Table(RefCell<Vec<Option<(&'static SiteMetrics, &'static Shard)>>>);

impl Drop for Table {
    fn drop(&mut self) {
        // The shards go back to their sites' free lists: no call on this thread may use one
        // through the cache any more (it then finds the table gone and counts in the totals).
        LAST.set(None);
        for (site, shard) in self.0.get_mut().drain(..).flatten() {
            site.retire(shard);
        }
    }
}

thread_local! {
    static TABLE: Table = const { Table(RefCell::new(Vec::new())) };
    /// The shard this thread looked up last, with its site: a site called in a loop finds its
    /// shard without the table (a `Copy` cell: no destructor, no lazy initialisation, no
    /// borrow). Set only while `TABLE` is alive; cleared when it is dropped.
    static LAST: Cell<Option<(&'static SiteMetrics, &'static Shard)>> = const { Cell::new(None) };
}

static SLOTS: AtomicUsize = AtomicUsize::new(0);

impl SiteMetrics {
    fn new(bounds: &[f64]) -> SiteMetrics {
        let n = bounds.len() + 1;
        SiteMetrics {
            slot: SLOTS.fetch_add(1, Ordering::Relaxed),
            above: bounds.iter().map(|b| ticks_above(*b)).collect(),
            fold: tick_limit(),
            shards: Mutex::new(Shards {
                live: Vec::new(),
                free: Vec::new(),
                retired: Totals {
                    buckets: vec![0; n],
                    ..Totals::default()
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shards> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This thread's shard (created on the thread's first call of the site); `None` while the
    /// thread is exiting.
    #[inline]
    fn shard(&'static self) -> Option<&'static Shard> {
        if let Some((m, s)) = LAST.get()
            && std::ptr::eq(m, self)
        {
            return Some(s);
        }
        self.shard_in_table()
    }

    fn shard_in_table(&'static self) -> Option<&'static Shard> {
        let found = TABLE
            .try_with(|t| match t.0.try_borrow() {
                Ok(t) => t.get(self.slot).copied().flatten().map(|(_, s)| s),
                Err(_) => None,
            })
            .ok()
            .flatten();
        let s = match found {
            Some(s) => Some(s),
            None => self.new_shard(),
        };
        if let Some(s) = s {
            LAST.set(Some((self, s)));
        }
        s
    }

    #[cold]
    #[inline(never)]
    fn new_shard(&'static self) -> Option<&'static Shard> {
        TABLE
            .try_with(|t| {
                let mut t = t.0.try_borrow_mut().ok()?;
                let shard = {
                    let mut s = self.lock();
                    let shard = match s.free.pop() {
                        Some(f) => f,
                        // Leaked on purpose: shards are reused, never freed, so a call can hold
                        // one without a reference count; at most one per thread alive at once.
                        None => &*Box::leak(Box::new(Shard::new(self.above.len() + 1))),
                    };
                    s.live.push(shard);
                    shard
                };
                if t.len() <= self.slot {
                    t.resize(self.slot + 1, None);
                }
                t[self.slot] = Some((self, shard));
                Some(shard)
            })
            .ok()
            .flatten()
    }

    /// Merges an exiting thread's shard into the totals and keeps it for the next thread.
    fn retire(&'static self, shard: &'static Shard) {
        let mut s = self.lock();
        let Shards {
            live,
            free,
            retired,
        } = &mut *s;
        shard.drain_into(retired);
        live.retain(|l| !std::ptr::eq(*l, shard));
        free.push(shard);
    }

    /// Counts the call as started; returns this thread's shard, which a call that finishes on
    /// this thread (a sync call) passes back to [`SiteMetrics::finish`].
    #[inline]
    pub(super) fn start(&'static self) -> Option<ShardRef> {
        match self.shard() {
            Some(s) => {
                bump(&s.started, 1);
                Some(ShardRef(s))
            }
            None => {
                self.lock().retired.started += 1;
                None
            }
        }
    }

    /// Counts the call's outcome and duration (`ticks`, raw clock ticks: [`super::core::elapsed`]),
    /// in `here` when given (this thread's shard, from [`SiteMetrics::start`] on this thread)
    /// or in this thread's shard.
    #[inline]
    pub(super) fn finish(&'static self, here: Option<ShardRef>, outcome: Outcome, ticks: u64) {
        // As `prometheus::Histogram::observe`: the first bucket whose bound is >= the value
        // (in seconds, `super::core::secs(ticks) <= bound`: see `ticks_above`).
        let b = self
            .above
            .iter()
            .position(|a| ticks < *a)
            .unwrap_or(self.above.len());
        match here.map(|h| h.0).or_else(|| self.shard()) {
            Some(s) => {
                bump(&s.calls[outcome.index()], 1);
                bump(&s.buckets[b], 1);
                let sum = s.sum.load(Ordering::Relaxed) + ticks.min(self.fold);
                if sum < self.fold {
                    s.sum.store(sum, Ordering::Relaxed);
                } else {
                    self.fold_sum(s, sum);
                }
            }
            None => {
                let mut s = self.lock();
                s.retired.calls[outcome.index()] += 1;
                s.retired.buckets[b] += 1;
                s.retired.sum += super::core::secs(ticks.min(self.fold));
            }
        }
    }

    /// Moves a shard's tick sum that reached [`SiteMetrics::fold`] into the totals, under the
    /// lock a scrape holds while it reads the shards (it sees the sum before or after the move,
    /// never both or neither).
    #[cold]
    #[inline(never)]
    fn fold_sum(&self, s: &Shard, sum: u64) {
        let mut g = self.lock();
        g.retired.sum += super::core::secs(sum);
        s.sum.store(0, Ordering::Relaxed);
    }

    /// The counts of every thread, alive or exited.
    fn totals(&self) -> Totals {
        let s = self.lock();
        let mut t = s.retired.clone();
        for shard in &s.live {
            shard.add_to(&mut t);
        }
        t
    }
}

/// The first raw clock duration (ticks) longer than `bound` seconds as the call path converts
/// it ([`super::core::secs`]): a duration is within the bound exactly when its ticks are below
/// this. Found by bisection on that same conversion (monotonic in the ticks), so a call lands
/// in the bucket it would by comparing its seconds. 0 for a bound no duration is within
/// (negative, NaN); `u64::MAX` for one every duration up to [`tick_limit`] (decades) is
/// within.
fn ticks_above(bound: f64) -> u64 {
    let mut hi = tick_limit();
    let within = |t: u64| super::core::secs(t) <= bound;
    if !within(0) {
        return 0;
    }
    if within(hi) {
        return u64::MAX;
    }
    // within(lo), !within(hi)
    let mut lo = 0;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if within(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The largest power of two of ticks, at most 2^62, whose nanoseconds (as the clock converts
/// them) are below 2^62: below it the conversion neither overflows nor wraps, so it is
/// monotonic (a counter slower than 62.5 MHz, as some aarch64 system counters are, wraps the
/// clock's conversion above 2^64 nanoseconds' worth of ticks). Decades of call time.
fn tick_limit() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(find_tick_limit)
}

/// [`tick_limit`], searched once per process (the clock's conversion does not change).
fn find_tick_limit() -> u64 {
    let ns = |t: u64| super::core::clock_nanos(t);
    let mut t: u64 = 1;
    // ns(t) < 2^62, so ns(2t) is at most about 2^63 and cannot have wrapped.
    while t < 1 << 62 && ns(2 * t) < 1 << 62 {
        t *= 2;
    }
    t
}

impl Site {
    /// The site's metrics, resolved on its first call.
    #[inline]
    pub(super) fn metrics(&'static self) -> Option<&'static SiteMetrics> {
        if !self.info.opts.metrics {
            return None;
        }
        match self.metrics.get() {
            Some(m) => m.as_ref(),
            None => self.resolve_metrics(),
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve_metrics(&'static self) -> Option<&'static SiteMetrics> {
        self.metrics
            .get_or_init(|| {
                let o = &self.info.opts;
                let m = o.metric;
                // The label names and values of both families: `event` (default) or the
                // constant `labels(...)`.
                let (mut names, mut values): (Vec<&str>, Vec<&str>) = if o.labels.is_empty() {
                    (vec!["event"], vec![self.info.event])
                } else {
                    o.labels.iter().copied().unzip()
                };
                let duration_name = if o.duration_metric.is_empty() {
                    format!("{m}_duration_seconds")
                } else {
                    o.duration_metric.to_owned()
                };
                let duration_names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
                let duration = crate::metrics::HistogramFamily::new(
                    &duration_name,
                    "Duration of instrumented functions in seconds",
                    &names,
                    &crate::slo::event_buckets(m, o.buckets),
                )
                .map(|d| (d.resolve(&values), d.bounds()));
                names.push(o.outcome_label);
                let calls_names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
                let calls = crate::metrics::CounterFamily::new(
                    &format!("{m}_total"),
                    "Calls of instrumented functions, by outcome",
                    &names,
                )
                .map(|c| {
                    let series = Outcome::ALL.map(|out| {
                        values.push(o.outcomes[out.index()]);
                        let v = c.resolve(&values);
                        values.pop();
                        v
                    });
                    (c.name().to_owned(), series)
                });
                let in_flight = crate::metrics::computed_gauge(
                    &format!("{m}_in_flight"),
                    "Calls of instrumented functions in progress, by event",
                    "event",
                );
                match (calls, duration, in_flight) {
                    (Ok((calls_family, calls)), Ok((duration_values, bounds)), Ok(g)) => {
                        let this: &'static Site = self;
                        let mine = move || match this.metrics.get() {
                            Some(Some(m)) => Some(m),
                            _ => None,
                        };
                        // Read at scrape time, when this `OnceLock` is set.
                        g.add(
                            self.info.event,
                            Box::new(move || match mine() {
                                Some(m) => {
                                    let t = m.totals();
                                    t.started as i64 - t.calls.iter().sum::<u64>() as i64
                                }
                                None => 0,
                            }),
                        );
                        crate::metrics::add_fold(
                            &calls_family,
                            Box::new(move |mf| {
                                let Some(m) = mine() else { return };
                                let t = m.totals();
                                // Outcomes mapped to one label value share a series.
                                for (i, v) in calls.iter().enumerate() {
                                    if calls[..i].contains(v) {
                                        continue;
                                    }
                                    let n: u64 = (i..5)
                                        .filter(|j| calls[*j] == *v)
                                        .map(|j| t.calls[j])
                                        .sum();
                                    if let Some(s) = crate::metrics::series_mut(mf, &calls_names, v)
                                    {
                                        let mut c = s.get_counter().clone();
                                        c.set_value(c.get_value() + n as f64);
                                        s.set_counter(c);
                                    }
                                }
                            }),
                        );
                        crate::metrics::add_fold(
                            &duration_name,
                            Box::new(move |mf| {
                                let Some(m) = mine() else { return };
                                let t = m.totals();
                                let Some(s) = crate::metrics::series_mut(
                                    mf,
                                    &duration_names,
                                    &duration_values,
                                ) else {
                                    return;
                                };
                                let mut h = s.get_histogram().clone();
                                let mut buckets = h.get_bucket().to_vec();
                                let mut cumulative = 0;
                                for (b, n) in buckets.iter_mut().zip(&t.buckets) {
                                    cumulative += n;
                                    b.set_cumulative_count(b.cumulative_count() + cumulative);
                                }
                                let total: u64 = t.buckets.iter().sum();
                                h.set_bucket(buckets);
                                h.set_sample_count(h.get_sample_count() + total);
                                h.set_sample_sum(h.get_sample_sum() + t.sum);
                                s.set_histogram(h);
                            }),
                        );
                        Some(SiteMetrics::new(&bounds))
                    }
                    (c, d, g) => {
                        let err = c.err().or(d.err()).or(g.err());
                        if let Some(e) = err {
                            tracing::error!(
                                target: "observa",
                                event = "observa.metrics_error",
                                error = %e,
                                site = self.info.event,
                                "metrics disabled for this call site"
                            );
                        }
                        None
                    }
                }
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::core::{clock_nanos, secs};
    use super::{SiteMetrics, tick_limit, ticks_above};
    use crate::outcome::Outcome;

    /// Below the limit the clock's conversion is monotonic and far from overflowing, and the
    /// limit is decades of ticks on any clock.
    #[test]
    fn tick_limit_is_where_the_conversion_stays_monotonic() {
        let l = tick_limit();
        assert!(l.is_power_of_two() && l >= 1 << 50, "{l}");
        assert!(clock_nanos(l) < 1 << 62, "{}", clock_nanos(l));
        let mut t = l;
        while t > 1 {
            assert!(clock_nanos(t / 2) <= clock_nanos(t), "at {t}");
            t /= 2;
        }
    }

    /// A shard's tick sum is folded into the totals (in seconds) before it can wrap: with
    /// many calls in progress, a site adds up years of call time in days. A call longer than
    /// the limit adds the limit to the sum, and still lands in the `+Inf` bucket.
    #[test]
    fn the_duration_sum_folds_before_it_wraps() {
        let m: &'static SiteMetrics = Box::leak(Box::new(SiteMetrics::new(&[1.0])));
        let near = m.fold - 1;
        for ticks in [near, near, u64::MAX] {
            let here = m.start();
            m.finish(here, Outcome::Ok, ticks);
        }
        let t = m.totals();
        let want = 2.0 * secs(near) + secs(m.fold);
        assert!((t.sum - want).abs() <= want * 1e-9, "{} vs {want}", t.sum);
        assert_eq!(t.buckets, [0, 3]);
        assert_eq!(t.calls[Outcome::Ok.index()], 3);
    }

    /// A duration lands in a bucket by its ticks exactly when its seconds are within the
    /// bound: the threshold is the first tick count above it, for the bounds users set and
    /// the edges (zero, negative, NaN, a bound no duration reaches).
    #[test]
    fn ticks_above_is_the_first_duration_over_the_bound() {
        for b in [
            1e-9, 3.7e-7, 0.000_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            60.0, 86_400.0,
        ] {
            let t = ticks_above(b);
            assert!(t > 0 && t < u64::MAX, "{b}: {t}");
            assert!(secs(t - 1) <= b, "{b}: {} at {}", secs(t - 1), t - 1);
            assert!(secs(t) > b, "{b}: {} at {t}", secs(t));
        }
        // Zero: only a zero duration is within it.
        let t = ticks_above(0.0);
        assert!(secs(t - 1) <= 0.0 && secs(t) > 0.0, "{t}");
        assert_eq!(ticks_above(-1.0), 0);
        assert_eq!(ticks_above(f64::NAN), 0);
        assert_eq!(ticks_above(1e30), u64::MAX);
    }
}
