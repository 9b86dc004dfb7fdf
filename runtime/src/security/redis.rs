//! Abuse windows in Redis (feature `redis`), shared by every replica that uses the same server
//! and key prefix.
//!
//! Each key is a sorted set of hit timestamps (`<prefix><scope>:<key>`), plus a marker key
//! (`…:signaled`) set with `NX` and the window as expiry when the threshold is reached. One Lua
//! script does prune, add, trim to `threshold` entries, expire, count and the `SET NX`, so the
//! update is atomic and exactly one replica sees the escalation. Time is the Redis server's
//! (`TIME`), so replica clocks do not matter.
//!
//! Cost: one round trip per hit, on the calling thread, under one connection per detector, with
//! [`RedisConfig::timeout`] (default 250 ms) for connect, read and write.
//!
//! Failure: when Redis cannot be reached or answers with an error, the hit is counted in memory
//! instead, and the switch is said once per outage: one WARN `security.abuse_store_unavailable`
//! and one increment of the fallback counter. While it is down, a reconnect is tried at most
//! every [`RedisConfig::retry_after`] (default 1 s); on success one INFO
//! `security.abuse_store_recovered` and the windows are shared again. Hits counted in memory
//! during the outage stay local (they are not copied to Redis). Nothing is returned to the
//! caller and nothing panics.

use super::abuse::Scope;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where and how to reach Redis for the shared abuse windows.
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    key_prefix: String,
    timeout: Duration,
    retry_after: Duration,
}

impl std::fmt::Debug for RedisConfig {
    // The URL may hold a password: not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// Redis at `url` (`redis://127.0.0.1:6379/0`), key prefix `observa:abuse:`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            key_prefix: "observa:abuse:".to_owned(),
            timeout: Duration::from_millis(250),
            retry_after: Duration::from_secs(1),
        }
    }

    /// Prefix of every key (replicas sharing windows use the same one).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.key_prefix = prefix.into();
        self
    }

    /// Connect, read and write timeout (default 250 ms).
    pub fn timeout(mut self, t: Duration) -> RedisConfig {
        self.timeout = t.max(Duration::from_millis(1));
        self
    }

    /// Least time between reconnect attempts while Redis is down (default 1 s).
    pub fn retry_after(mut self, t: Duration) -> RedisConfig {
        self.retry_after = t;
        self
    }
}

const SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(threshold + 1))
redis.call('PEXPIRE', KEYS[1], window)
local n = redis.call('ZCARD', KEYS[1])
local fire = 0
if n >= threshold then
  if redis.call('SET', KEYS[2], now, 'PX', window, 'NX') then fire = 1 end
end
return {n, fire}
";

enum Conn {
    /// Not connected yet.
    Idle,
    Up(redis::Connection),
    /// Unreachable; retry from this instant.
    Down(Instant),
}

pub(crate) struct RedisStore {
    client: redis::Client,
    cfg: RedisConfig,
    script: redis::Script,
    conn: Mutex<Conn>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub(crate) fn new(cfg: RedisConfig) -> Result<RedisStore, super::SecurityError> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| {
            super::SecurityError::Redis(format!("invalid redis url: {:?}", e.kind()))
        })?;
        Ok(RedisStore {
            client,
            cfg,
            script: redis::Script::new(SCRIPT),
            conn: Mutex::new(Conn::Idle),
        })
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let c = self.client.get_connection_with_timeout(self.cfg.timeout)?;
        c.set_read_timeout(Some(self.cfg.timeout))?;
        c.set_write_timeout(Some(self.cfg.timeout))?;
        Ok(c)
    }

    fn run(
        &self,
        c: &mut redis::Connection,
        keys: &(String, String),
        threshold: u32,
        window_ms: u64,
    ) -> redis::RedisResult<(u32, u32)> {
        let member = format!("{:032x}", crate::encode::rand::u128());
        self.script
            .key(&keys.0)
            .key(&keys.1)
            .arg(window_ms)
            .arg(threshold)
            .arg(member)
            .invoke(c)
    }

    /// Counts a hit in Redis: `None` when Redis cannot be used now (count it in memory).
    pub(crate) fn hit(
        &self,
        scope: Scope,
        key: &str,
        threshold: u32,
        window: Duration,
        events: &dyn super::StoreEvents,
    ) -> Option<(u32, bool)> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let base = format!("{}{}:{}", self.cfg.key_prefix, scope.as_str(), key);
        let keys = (base.clone(), format!("{base}:signaled"));
        let mut st = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let was_down = match &*st {
            Conn::Down(at) if Instant::now() < *at => return None,
            Conn::Down(_) => true,
            _ => false,
        };
        // An established connection first; on failure one fresh connection (the server may
        // have restarted), then memory.
        if let Conn::Up(c) = &mut *st
            && let Ok((n, fire)) = self.run(c, &keys, threshold, window_ms)
        {
            return Some((n, fire == 1));
        }
        let err = match self.connect() {
            Ok(mut c) => match self.run(&mut c, &keys, threshold, window_ms) {
                Ok((n, fire)) => {
                    *st = Conn::Up(c);
                    drop(st);
                    if was_down {
                        events.recovered();
                    }
                    return Some((n, fire == 1));
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        *st = Conn::Down(Instant::now() + self.cfg.retry_after);
        drop(st);
        if !was_down {
            events.unavailable(&describe(&err));
        }
        None
    }
}

/// The error as text without anything from the URL: the kind, and the OS error for I/O.
fn describe(e: &redis::RedisError) -> String {
    if e.kind() == redis::ErrorKind::Io {
        e.to_string()
    } else {
        format!("{:?}", e.kind())
    }
}
