//! Sliding-window abuse detection per host and per user.
//!
//! Every violation is a hit for its client address (scope `host`) and for its user (scope
//! `user`), when known. A key whose hits in the last `window` reach the scope's threshold
//! escalates: one WARN line `abuse_signal_host` / `abuse_signal_user` and one increment of the
//! abuse counter, then nothing more for that key until `window` has passed since the escalation
//! (once per window). Each key keeps at most `threshold` timestamps, so memory per key is bounded;
//! the number of keys held in memory is bounded too ([`AbuseConfig::max_keys`]).
//!
//! With feature `redis` and `AbuseConfig::redis` the windows live in Redis (one sorted set per
//! key, updated by one Lua script, so replicas share counts and exactly one of them escalates);
//! see `RedisConfig` for the fallback to memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a key stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The client address.
    Host,
    /// The user id.
    User,
}

impl Scope {
    /// `host` or `user`: the counter label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Host => "host",
            Scope::User => "user",
        }
    }

    /// The event of the escalation line.
    pub const fn event(self) -> &'static str {
        match self {
            Scope::Host => "abuse_signal_host",
            Scope::User => "abuse_signal_user",
        }
    }
}

/// Where a window was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// This process's memory.
    Memory,
    /// The shared Redis store.
    Redis,
}

impl Store {
    /// `memory` or `redis`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis",
        }
    }
}

/// One hit counted for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Host or user.
    pub scope: Scope,
    /// Hits of the key in the window (at most the threshold).
    pub count: u32,
    /// The threshold of the scope.
    pub threshold: u32,
    /// True when this hit escalated (first time the threshold is reached in a window).
    pub escalated: bool,
    /// Where it was counted.
    pub store: Store,
}

/// Thresholds, window and store of abuse detection. Defaults: 10 hits per host, 5 per user,
/// in 1 hour, in memory.
#[derive(Clone, Debug)]
pub struct AbuseConfig {
    pub(crate) host_threshold: u32,
    pub(crate) user_threshold: u32,
    pub(crate) window: Duration,
    pub(crate) max_keys: usize,
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<super::redis::RedisConfig>,
}

impl Default for AbuseConfig {
    fn default() -> AbuseConfig {
        AbuseConfig {
            host_threshold: 10,
            user_threshold: 5,
            window: Duration::from_secs(3600),
            max_keys: 100_000,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }
}

impl AbuseConfig {
    /// Hits per host in a window that escalate (0 turns host detection off).
    pub fn host_threshold(mut self, n: u32) -> Self {
        self.host_threshold = n;
        self
    }

    /// Hits per user in a window that escalate (0 turns user detection off).
    pub fn user_threshold(mut self, n: u32) -> Self {
        self.user_threshold = n;
        self
    }

    /// The sliding window (at least 1 ms).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self
    }

    /// Most keys held in memory, both scopes together (default 100,000). Past it, keys whose window is
    /// empty are dropped; if none is, new keys are not tracked until some expire (counted in
    /// `observa_internal_errors_total{kind="security"}`).
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n.max(1);
        self
    }

    /// Shares the windows across replicas through Redis (feature `redis`).
    #[cfg(feature = "redis")]
    pub fn redis(mut self, cfg: super::redis::RedisConfig) -> Self {
        self.redis = Some(cfg);
        self
    }

    pub(crate) fn threshold(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Host => self.host_threshold,
            Scope::User => self.user_threshold,
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    hits: VecDeque<Instant>,
    signaled: Option<Instant>,
}

/// The in-memory windows.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    keys: Mutex<HashMap<(Scope, Box<str>), Window>>,
}

impl Memory {
    /// Counts a hit of `key` now; returns (hits in window, escalated).
    pub(crate) fn hit(
        &self,
        scope: Scope,
        key: &str,
        threshold: u32,
        window: Duration,
        max_keys: usize,
    ) -> Option<(u32, bool)> {
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let id = (scope, Box::<str>::from(key));
        if !keys.contains_key(&id) && keys.len() >= max_keys {
            keys.retain(|_, w| {
                w.hits
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
                    || w.signaled.is_some_and(|t| now.duration_since(t) < window)
            });
            if keys.len() >= max_keys {
                crate::metrics::internal_error("security");
                return None;
            }
        }
        let w = keys.entry(id).or_default();
        while w
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            w.hits.pop_front();
        }
        w.hits.push_back(now);
        while w.hits.len() > threshold as usize {
            w.hits.pop_front();
        }
        let count = w.hits.len() as u32;
        let armed = w.signaled.is_none_or(|t| now.duration_since(t) >= window);
        let escalated = count >= threshold && armed;
        if escalated {
            w.signaled = Some(now);
        }
        Some((count, escalated))
    }
}

/// The detector: memory, or Redis with memory as fallback.
#[derive(Debug)]
pub(crate) struct Detector {
    pub(crate) cfg: AbuseConfig,
    memory: Memory,
    #[cfg(feature = "redis")]
    redis: Option<super::redis::RedisStore>,
}

impl Detector {
    pub(crate) fn new(cfg: AbuseConfig) -> Result<Detector, super::SecurityError> {
        #[cfg(feature = "redis")]
        let redis = match &cfg.redis {
            Some(r) => Some(super::redis::RedisStore::new(r.clone())?),
            None => None,
        };
        Ok(Detector {
            cfg,
            memory: Memory::default(),
            #[cfg(feature = "redis")]
            redis,
        })
    }

    /// Counts a hit of `key` in `scope`; `None` when the scope is off or the key untracked.
    /// `events` hears when the shared store becomes unavailable (once per outage) and when it
    /// is back.
    pub(crate) fn hit(
        &self,
        scope: Scope,
        key: &str,
        events: &dyn super::StoreEvents,
    ) -> Option<Hit> {
        let threshold = self.cfg.threshold(scope);
        if threshold == 0 || key.is_empty() {
            return None;
        }
        let key = super::bounded(key, 256);
        #[cfg(feature = "redis")]
        if let Some(r) = &self.redis
            && let Some((count, escalated)) = r.hit(scope, key, threshold, self.cfg.window, events)
        {
            return Some(Hit {
                scope,
                count,
                threshold,
                escalated,
                store: Store::Redis,
            });
        }
        #[cfg(not(feature = "redis"))]
        let _ = events;
        let (count, escalated) =
            self.memory
                .hit(scope, key, threshold, self.cfg.window, self.cfg.max_keys)?;
        Some(Hit {
            scope,
            count,
            threshold,
            escalated,
            store: Store::Memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalates_once_per_window_and_bounds_keys() {
        let m = Memory::default();
        let hour = Duration::from_secs(3600);
        let got: Vec<_> = (0..8)
            .map(|_| m.hit(Scope::User, "u", 5, hour, 10).unwrap())
            .collect();
        assert_eq!(
            got.iter().map(|h| h.1).collect::<Vec<_>>(),
            [false, false, false, false, true, false, false, false]
        );
        assert_eq!(got[7].0, 5, "a key keeps at most `threshold` hits");
        // A different scope is a different key.
        assert_eq!(m.hit(Scope::Host, "u", 5, hour, 10), Some((1, false)));
        // Key cap: live keys are kept, new ones refused.
        for i in 0..8 {
            m.hit(Scope::Host, &format!("h{i}"), 5, hour, 10).unwrap();
        }
        assert_eq!(m.hit(Scope::Host, "one-too-many", 5, hour, 10), None);
    }
}
