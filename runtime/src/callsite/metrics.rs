//! The metric handles of a site: the call counter by outcome, the duration histogram and the
//! in-flight gauge, resolved once per site (on its first call) and cached in the site.

use super::site::Site;
use crate::outcome::Outcome;
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) struct SiteMetrics {
    pub(super) calls: [prometheus::IntCounter; 5],
    pub(super) duration: prometheus::Histogram,
    /// Calls started; `<family>_in_flight` is computed at scrape time as started minus the
    /// calls counted by outcome (one atomic add per call instead of an increment and a
    /// decrement).
    pub(super) started: AtomicU64,
}

impl Site {
    pub(super) fn metrics(&'static self) -> Option<&'static SiteMetrics> {
        if !self.opts.metrics {
            return None;
        }
        self.metrics
            .get_or_init(|| {
                let o = &self.opts;
                let m = o.metric;
                // The label names and values of both families: `event` (default) or the
                // constant `labels(...)`.
                let (mut names, mut values): (Vec<&str>, Vec<&str>) = if o.labels.is_empty() {
                    (vec!["event"], vec![self.event])
                } else {
                    o.labels.iter().copied().unzip()
                };
                let duration_name = if o.duration_metric.is_empty() {
                    format!("{m}_duration_seconds")
                } else {
                    o.duration_metric.to_owned()
                };
                let duration = crate::metrics::HistogramFamily::new(
                    &duration_name,
                    "Duration of instrumented functions in seconds",
                    &names,
                    &crate::slo::event_buckets(m, o.buckets),
                )
                .map(|d| d.get(&values));
                names.push(o.outcome_label);
                let calls = crate::metrics::CounterFamily::new(
                    &format!("{m}_total"),
                    "Calls of instrumented functions, by outcome",
                    &names,
                )
                .map(|c| {
                    Outcome::ALL.map(|out| {
                        values.push(o.outcomes[out.index()]);
                        let h = c.get(&values);
                        values.pop();
                        h
                    })
                });
                let in_flight = crate::metrics::computed_gauge(
                    &format!("{m}_in_flight"),
                    "Calls of instrumented functions in progress, by event",
                    "event",
                );
                match (calls, duration, in_flight) {
                    (Ok(c), Ok(d), Ok(g)) => {
                        let this: &'static Site = self;
                        // Read at scrape time, when this `OnceLock` is set.
                        g.add(
                            self.event,
                            Box::new(move || match this.metrics.get() {
                                Some(Some(m)) => {
                                    let started = m.started.load(Ordering::Relaxed) as i64;
                                    // Outcomes mapped to one label value share a series:
                                    // count each series once.
                                    let done: i64 = m
                                        .calls
                                        .iter()
                                        .enumerate()
                                        .filter(|(i, _)| {
                                            !this.opts.outcomes[..*i]
                                                .contains(&this.opts.outcomes[*i])
                                        })
                                        .map(|(_, c)| c.get() as i64)
                                        .sum();
                                    started - done
                                }
                                _ => 0,
                            }),
                        );
                        Some(SiteMetrics {
                            calls: c,
                            duration: d,
                            started: AtomicU64::new(0),
                        })
                    }
                    (c, d, g) => {
                        let err = c.err().or(d.err()).or(g.err());
                        if let Some(e) = err {
                            tracing::error!(
                                target: "observa",
                                event = "observa.metrics_error",
                                error = %e,
                                site = self.event,
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
