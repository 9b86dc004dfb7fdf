//! Background jobs: started / completed / failed / retried, with the attempt number.
//!
//! ```
//! use observa::lifecycle::worker::{self, Retry};
//! # struct Job { id: String }
//! # async fn sync(job: &Job) -> Result<u64, std::io::Error> { Ok(3) }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let job = &Job { id: "job-42".into() };
//!
//! let rows = worker::run("shopify_sync", &job.id, Retry::attempts(3), |attempt| async move {
//!     sync(&job).await
//! })
//! .await?;
//! # assert_eq!(rows, 3);
//! # Ok(())
//! # }
//! ```
//!
//! Lines (target `observa::worker`, with `job_type`, `job_id`, `attempt`):
//! - `worker.job_started` INFO at every attempt;
//! - `worker.job_completed` INFO with `duration_ms` (of the attempt) and `attempts`;
//! - `worker.job_retried` WARN when an attempt failed and another follows: `error`,
//!   `error_type`, `next_attempt`, `backoff_ms`;
//! - `worker.job_failed` ERROR when the last attempt failed: `error`, `attempts`.
//!
//! Metrics (the seeds' names): `worker_jobs_total{job_type,status}` (`completed`, `failed`),
//! `worker_job_duration_seconds{job_type}` (per attempt), `worker_job_retries_total{job_type}`.
//! `job_type` is a `&'static str`: a bounded label set. Job ids go on lines, never on labels.
//!
//! Workers with their own retry loop (a broker redelivering, a queue library's attempts) use
//! [`Attempt`] directly: [`Attempt::start`] per delivery, then [`Attempt::completed`] or
//! [`Attempt::failed`] saying whether a retry follows. An attempt dropped without either (the
//! job's future cancelled, a panic) counts as failed and writes `worker.job_failed` with
//! `error_type = "cancelled"`.
//!
//! Errors are written through their `Display` and the log pipeline's scrubber; never the job's
//! payload. Run the job in the context it carries ([`crate::carrier::JobContext`]) to continue
//! the request's correlation id.

use crate::context::Id;
use crate::metrics::{CounterFamily, HistogramFamily};
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How many times a job runs and how long to wait between attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    /// Attempts in total, at least 1.
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial_backoff: Duration,
    /// Each further wait is the previous one times this factor.
    pub multiplier: f64,
    /// Longest wait.
    pub max_backoff: Duration,
}

impl Retry {
    /// `n` attempts (at least 1), 100 ms backoff doubling up to 30 s.
    pub fn attempts(n: u32) -> Retry {
        Retry {
            max_attempts: n.max(1),
            initial_backoff: Duration::from_millis(100),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
        }
    }

    /// One attempt, no retry.
    pub fn never() -> Retry {
        Retry::attempts(1)
    }

    /// This policy with `d` as the first backoff.
    pub fn with_backoff(mut self, d: Duration) -> Retry {
        self.initial_backoff = d;
        self
    }

    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let f = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let d = self.initial_backoff.as_secs_f64() * f;
        Duration::from_secs_f64(d.min(self.max_backoff.as_secs_f64()).max(0.0))
    }
}

struct Metrics {
    jobs: CounterFamily,
    duration: HistogramFamily,
    retries: CounterFamily,
}

fn metrics() -> Option<&'static Metrics> {
    static M: OnceLock<Option<Metrics>> = OnceLock::new();
    M.get_or_init(|| {
        let jobs = CounterFamily::new(
            "worker_jobs_total",
            "Background jobs finished, by job type and status (completed, failed)",
            &["job_type", "status"],
        );
        let duration = HistogramFamily::new(
            "worker_job_duration_seconds",
            "Duration of background job attempts in seconds, by job type",
            &["job_type"],
            crate::metrics::DEFAULT_BUCKETS,
        );
        let retries = CounterFamily::new(
            "worker_job_retries_total",
            "Background job attempts that failed and were retried, by job type",
            &["job_type"],
        );
        match (jobs, duration, retries) {
            (Ok(jobs), Ok(duration), Ok(retries)) => Some(Metrics {
                jobs,
                duration,
                retries,
            }),
            (a, b, c) => {
                let e = a.err().or(b.err()).or(c.err());
                if let Some(e) = e {
                    tracing::error!(
                        target: "observa",
                        event = "observa.metrics_error",
                        error = %e,
                        "worker metrics disabled"
                    );
                }
                None
            }
        }
    })
    .as_ref()
}

/// One attempt of one job. See the module docs.
#[must_use = "finish the attempt with `completed` or `failed`"]
pub struct Attempt {
    job_type: &'static str,
    job_id: Id,
    attempt: u32,
    start: Instant,
    done: bool,
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("job_type", &self.job_type)
            .field("job_id", &self.job_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    /// Starts attempt `attempt` (1-based) of job `job_id` of type `job_type`: writes
    /// `worker.job_started`.
    pub fn start(job_type: &'static str, job_id: &dyn fmt::Display, attempt: u32) -> Attempt {
        let a = Attempt {
            job_type,
            job_id: Id::from_display(job_id),
            attempt: attempt.max(1),
            start: Instant::now(),
            done: false,
        };
        crate::completion::own(|| {
            tracing::info!(
                name: crate::log::COMPLETION,
                target: "observa::worker",
                event = "worker.job_started",
                job_type = a.job_type,
                job_id = a.job_id.as_str(),
                attempt = a.attempt,
            )
        });
        a
    }

    /// The attempt number (1-based).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    fn observe(&self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64();
        if let Some(m) = metrics() {
            m.duration.get(&[self.job_type]).observe(secs);
        }
        secs * 1e3
    }

    /// The attempt succeeded: `worker.job_completed`, `worker_jobs_total{status="completed"}`.
    pub fn completed(mut self) {
        self.done = true;
        let ms = self.observe();
        if let Some(m) = metrics() {
            m.jobs.get(&[self.job_type, "completed"]).inc();
        }
        crate::completion::own(|| {
            tracing::info!(
                name: crate::log::COMPLETION,
                target: "observa::worker",
                event = "worker.job_completed",
                job_type = self.job_type,
                job_id = self.job_id.as_str(),
                attempt = self.attempt,
                attempts = self.attempt,
                duration_ms = ms,
            )
        });
    }

    /// The attempt failed with `error`. With `retry_in = Some(backoff)` another attempt follows:
    /// `worker.job_retried` (WARN) and `worker_job_retries_total`; with `None` the job is given
    /// up: `worker.job_failed` (ERROR) and `worker_jobs_total{status="failed"}`.
    pub fn failed(mut self, error: &dyn fmt::Display, retry_in: Option<Duration>) {
        self.done = true;
        self.fail(error, "error", retry_in);
    }

    fn fail(&mut self, error: &dyn fmt::Display, error_type: &str, retry_in: Option<Duration>) {
        let ms = self.observe();
        match retry_in {
            Some(backoff) => {
                if let Some(m) = metrics() {
                    m.retries.get(&[self.job_type]).inc();
                }
                crate::completion::own(|| {
                    tracing::warn!(
                            name: crate::log::COMPLETION,
                    target: "observa::worker",
                            event = "worker.job_retried",
                            job_type = self.job_type,
                            job_id = self.job_id.as_str(),
                            attempt = self.attempt,
                            next_attempt = self.attempt.saturating_add(1),
                            backoff_ms = backoff.as_millis() as u64,
                            duration_ms = ms,
                            error = %error,
                            error_type = error_type,
                        )
                });
            }
            None => {
                if let Some(m) = metrics() {
                    m.jobs.get(&[self.job_type, "failed"]).inc();
                }
                crate::completion::own(|| {
                    tracing::error!(
                            name: crate::log::COMPLETION,
                    target: "observa::worker",
                            event = "worker.job_failed",
                            job_type = self.job_type,
                            job_id = self.job_id.as_str(),
                            attempt = self.attempt,
                            attempts = self.attempt,
                            duration_ms = ms,
                            error = %error,
                            error_type = error_type,
                        )
                });
            }
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            let why = if std::thread::panicking() {
                "panicked"
            } else {
                "cancelled before completion"
            };
            let ty = if std::thread::panicking() {
                "panic"
            } else {
                "cancelled"
            };
            self.fail(&why, ty, None);
        }
    }
}

/// Runs `job` up to `retry.max_attempts` times, sleeping the backoff between attempts, and
/// writes the lifecycle of every attempt (see the module docs). Returns the last result
/// unchanged.
pub async fn run<T, E, F, Fut>(
    job_type: &'static str,
    job_id: &dyn fmt::Display,
    retry: Retry,
    mut job: F,
) -> Result<T, E>
where
    E: fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let id = Id::from_display(job_id);
    let max = retry.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let a = Attempt::start(job_type, &id, attempt);
        match job(attempt).await {
            Ok(v) => {
                a.completed();
                return Ok(v);
            }
            Err(e) if attempt < max => {
                let wait = retry.backoff(attempt);
                a.failed(&e, Some(wait));
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => {
                a.failed(&e, None);
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = Retry::attempts(5).with_backoff(Duration::from_millis(10));
        assert_eq!(r.backoff(1), Duration::from_millis(10));
        assert_eq!(r.backoff(2), Duration::from_millis(20));
        assert_eq!(r.backoff(3), Duration::from_millis(40));
        let capped = Retry {
            max_backoff: Duration::from_millis(15),
            ..r
        };
        assert_eq!(capped.backoff(3), Duration::from_millis(15));
        assert_eq!(Retry::attempts(0).max_attempts, 1);
    }
}
