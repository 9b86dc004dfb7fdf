//! Security signals: violation events with stable codes, the seeds' security counters, and
//! sliding-window abuse detection per host and per user.
//!
//! ```
//! use observa::security::{self, Code};
//!
//! // In an auth check, after rejecting the request:
//! security::violation(Code::AuthExpired).token_id("jti-7f3a").method("GET").route("/orders").status(401).emit();
//! security::violation(Code::CrossTenantAccess).requested_tenant("acme").emit();
//! security::violation(Code::RateLimited).scope("ip").status(429).emit();
//! ```
//!
//! Each [`Violation::emit`] writes one line `security.violation` at the code's level (see
//! [`Code`]: token anomalies DEBUG, revoked tokens INFO, permission, CSRF, rate-limit and
//! cross-tenant violations WARN; override per code with [`SecurityConfig::level`]) with:
//! `violation` (the code), `reason` (auth codes), `client_ip` (given, or the HTTP request's
//! source when a request is in scope), `method`, `route`, `status`, `permission`, `role`,
//! `scope`, `requested_tenant_id` and `effective_tenant_id` (cross-tenant), `token_fp`, and the
//! context's `correlation_id`, `tenant_id`, `user_id` (a user given with [`Violation::user`] is
//! bound for the line). Fields not given are left out.
//!
//! Never on the line: a token, cookie, header value or body. A token is identified only by
//! `token_fp`, the 8-hex-character keyed fingerprint of its id
//! ([`crate::redact::fingerprint()`]: HMAC-SHA256 under the process or deployment key), so lines
//! about one token can be correlated without the token being recoverable.
//!
//! Counters (names in [`Names`], default as in the seeds, registered in observa's registry
//! behind its cardinality cap): `api_auth_failures_total{reason}` (`missing`, `invalid_token`,
//! `expired`, `revoked`, `invalid_subject`), `api_permission_denied_total{permission, role}`,
//! `csrf_blocks_total`, `ratelimit_blocks_total{scope}`, `security_violations_total{code}`
//! for every code, `security_abuse_signals_total{scope}` and
//! `security_abuse_store_fallbacks_total`. Caller-supplied label values are cut at 64 bytes;
//! absent ones are `unknown`.
//!
//! Every violation is also a hit for abuse detection ([`AbuseConfig`]; defaults 10 per host,
//! 5 per user, in 1 hour): reaching a threshold writes one WARN `abuse_signal_host` /
//! `abuse_signal_user` (fields `violation`, `client_ip`, `count`, `threshold`, `window_s`,
//! `store`) once per window. In memory by default; with feature `redis` the windows can be
//! shared by replicas (`RedisConfig`), falling back to memory while Redis is unreachable.
//!
//! [`violation`] uses the process-wide [`Security`] set with [`install`] (the defaults until
//! then); a [`Security`] of your own works the same way.

mod abuse;
mod code;
mod counters;
#[cfg(feature = "redis")]
mod redis;

pub use abuse::{AbuseConfig, Hit, Scope, Store};
pub use code::Code;
pub use counters::Names;
#[cfg(feature = "redis")]
pub use redis::RedisConfig;

use crate::context;
use std::sync::{Arc, RwLock};
use tracing::Level;

/// What [`Security::new`] can refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityError {
    /// A counter name is invalid or already registered with another type or labels.
    Metrics(String),
    /// The Redis configuration is invalid (the URL does not parse).
    Redis(String),
}

impl std::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecurityError::Metrics(m) => write!(f, "security counters: {m}"),
            SecurityError::Redis(m) => write!(f, "security abuse store: {m}"),
        }
    }
}

impl std::error::Error for SecurityError {}

impl From<crate::metrics::MetricsError> for SecurityError {
    fn from(e: crate::metrics::MetricsError) -> SecurityError {
        SecurityError::Metrics(e.to_string())
    }
}

/// Configuration of a [`Security`].
#[derive(Clone, Debug, Default)]
pub struct SecurityConfig {
    names: Names,
    abuse: AbuseConfig,
    levels: Vec<(Code, Level)>,
}

impl SecurityConfig {
    /// The defaults: the seeds' counter names, levels and abuse thresholds, in memory.
    pub fn new() -> SecurityConfig {
        SecurityConfig::default()
    }

    /// Counter names.
    pub fn names(mut self, names: Names) -> SecurityConfig {
        self.names = names;
        self
    }

    /// Abuse detection.
    pub fn abuse(mut self, abuse: AbuseConfig) -> SecurityConfig {
        self.abuse = abuse;
        self
    }

    /// Writes `code`'s lines at `level` instead of its default.
    pub fn level(mut self, code: Code, level: Level) -> SecurityConfig {
        self.levels.push((code, level));
        self
    }
}

/// Emits violations, counts them and detects abuse. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct Security {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    counters: counters::Counters,
    detector: abuse::Detector,
    levels: Vec<Level>,
}

impl Security {
    /// Registers the counters and sets up the detector (no connection is made yet).
    pub fn new(cfg: SecurityConfig) -> Result<Security, SecurityError> {
        let counters = counters::Counters::new(&cfg.names)?;
        let detector = abuse::Detector::new(cfg.abuse)?;
        let mut levels: Vec<Level> = Code::ALL.iter().map(|c| c.default_level()).collect();
        for (c, l) in cfg.levels {
            levels[c.index()] = l;
        }
        Ok(Security {
            inner: Arc::new(Inner {
                counters,
                detector,
                levels,
            }),
        })
    }

    /// A violation of `code`, written by [`Violation::emit`].
    pub fn violation(&self, code: Code) -> Violation<'_> {
        Violation {
            security: SecurityRef::Borrowed(self),
            code,
            f: Fields::default(),
        }
    }
}

/// Sets the process-wide [`Security`] used by [`violation`]; returns the previous one.
pub fn install(security: Security) -> Option<Security> {
    let mut g = GLOBAL.write().unwrap_or_else(|p| p.into_inner());
    g.replace(security)
}

static GLOBAL: RwLock<Option<Security>> = RwLock::new(None);

fn global() -> Option<Security> {
    if let Some(s) = GLOBAL.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Some(s.clone());
    }
    let mut g = GLOBAL.write().unwrap_or_else(|p| p.into_inner());
    if g.is_none() {
        match Security::new(SecurityConfig::default()) {
            Ok(s) => *g = Some(s),
            // Default names taken by someone else's families: lines still, no counters.
            Err(_) => crate::metrics::internal_error("security"),
        }
    }
    g.clone()
}

/// A violation of `code` for the process-wide [`Security`] (see [`install`]).
pub fn violation<'a>(code: Code) -> Violation<'a> {
    Violation {
        security: match global() {
            Some(s) => SecurityRef::Owned(s),
            None => SecurityRef::None,
        },
        code,
        f: Fields::default(),
    }
}

#[derive(Debug)]
enum SecurityRef<'a> {
    Borrowed(&'a Security),
    Owned(Security),
    None,
}

#[derive(Debug, Default)]
struct Fields<'a> {
    client_ip: Option<&'a str>,
    user: Option<&'a str>,
    method: Option<&'a str>,
    route: Option<&'a str>,
    status: Option<u16>,
    permission: Option<&'a str>,
    role: Option<&'a str>,
    scope: Option<&'a str>,
    requested_tenant: Option<&'a str>,
    effective_tenant: Option<&'a str>,
    token_id: Option<&'a str>,
    error_type: Option<&'a str>,
}

/// One violation being described; nothing happens until [`emit`](Violation::emit).
#[derive(Debug)]
#[must_use = "a violation is recorded by `.emit()`"]
pub struct Violation<'a> {
    security: SecurityRef<'a>,
    code: Code,
    f: Fields<'a>,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident: $field:ident; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, v: &'a str) -> Self {
                self.f.$field = Some(v);
                self
            }
        )*
    };
}

impl<'a> Violation<'a> {
    setters! {
        /// The client address (default: the HTTP request's source, when one is in scope).
        client_ip: client_ip;
        /// The user concerned (default: the context's user); bound for the line.
        user: user;
        /// The HTTP method.
        method: method;
        /// The route template (not the rendered path).
        route: route;
        /// The permission that was missing (label of the permission-denied counter).
        permission: permission;
        /// The caller's role (label of the permission-denied counter).
        role: role;
        /// The rate-limit scope (`ip`, `session`, `user`, ...; label of the rate-limit counter).
        scope: scope;
        /// The tenant the caller asked for (cross-tenant access).
        requested_tenant: requested_tenant;
        /// The caller's own tenant (default: the context's tenant).
        effective_tenant: effective_tenant;
        /// The token's id (`jti`, session id): written only as its keyed fingerprint `token_fp`.
        token_id: token_id;
        /// The kind of validation error (`signature`, `malformed`, ...): a short code, not text
        /// from the token.
        error_type: error_type;
    }

    /// The HTTP status returned.
    pub fn status(mut self, status: u16) -> Self {
        self.f.status = Some(status);
        self
    }

    /// Writes the line, counts it and feeds abuse detection. Never fails, never panics on bad
    /// input, never blocks on anything but the Redis round trip when Redis is configured.
    pub fn emit(self) -> Report {
        let sec = match &self.security {
            SecurityRef::Borrowed(s) => Some(*s),
            SecurityRef::Owned(s) => Some(s),
            SecurityRef::None => None,
        };
        let f = &self.f;
        let code = self.code;
        let ctx = context::current();
        let client_ip: Option<String> = f
            .client_ip
            .map(str::to_owned)
            .or_else(|| ctx.source().and_then(|s| s.client_ip.clone()));
        let user: Option<String> = f
            .user
            .map(str::to_owned)
            .or_else(|| ctx.user_id().map(str::to_owned));
        let effective_tenant: Option<String> = f
            .effective_tenant
            .map(str::to_owned)
            .or_else(|| ctx.tenant_id().map(str::to_owned));
        let token_fp = f
            .token_id
            .map(|t| crate::redact::fingerprint(t).to_string());
        let line_ctx = match f.user {
            Some(u) if ctx.user_id() != Some(u) => ctx.clone().with_user_id(u),
            _ => ctx,
        };
        let level = sec.map_or(code.default_level(), |s| s.inner.levels[code.index()]);
        let reason = match code.counted() {
            code::Counted::AuthFailure(r) => Some(r),
            _ => None,
        };
        let line = Line {
            violation: code.as_str(),
            reason,
            client_ip: client_ip.as_deref().map(|v| bounded(v, 64)),
            method: f.method.map(|v| bounded(v, 16)),
            route: f.route.map(|v| bounded(v, 256)),
            status: f.status,
            permission: f.permission.map(|v| bounded(v, 128)),
            role: f.role.map(|v| bounded(v, 128)),
            scope: f.scope.map(|v| bounded(v, 64)),
            requested_tenant: f.requested_tenant.map(|v| bounded(v, 128)),
            effective_tenant: effective_tenant.as_deref().map(|v| bounded(v, 128)),
            token_fp: token_fp.as_deref(),
            error_type: f.error_type.map(|v| bounded(v, 64)),
        };
        let mut report = Report::default();
        line_ctx.scope(|| {
            line.write(level);
            let Some(sec) = sec else { return };
            sec.inner
                .counters
                .violation(code, f.permission, f.role, f.scope);
            let events = Events(&sec.inner.counters);
            let d = &sec.inner.detector;
            report.host = client_ip
                .as_deref()
                .and_then(|ip| d.hit(Scope::Host, ip, &events));
            report.user = user.as_deref().and_then(|u| d.hit(Scope::User, u, &events));
            for hit in [report.host, report.user].into_iter().flatten() {
                if hit.escalated {
                    sec.inner.counters.abuse_signal(hit.scope);
                    abuse_line(
                        code,
                        &hit,
                        client_ip.as_deref().map(|v| bounded(v, 64)),
                        d.cfg.window.as_secs(),
                    );
                }
            }
        });
        report
    }
}

/// What abuse detection made of an emitted violation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The hit counted for the client address, if known and tracked.
    pub host: Option<Hit>,
    /// The hit counted for the user, if known and tracked.
    pub user: Option<Hit>,
}

impl Report {
    /// True when this violation escalated the host or the user.
    pub fn escalated(&self) -> bool {
        [self.host, self.user]
            .into_iter()
            .flatten()
            .any(|h| h.escalated)
    }
}

/// What the shared store reports to the owner of the counters and lines.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) trait StoreEvents {
    /// The store has just become unavailable (once per outage).
    fn unavailable(&self, error: &str);
    /// The store is reachable again.
    fn recovered(&self);
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
struct Events<'c>(&'c counters::Counters);

impl StoreEvents for Events<'_> {
    fn unavailable(&self, error: &str) {
        self.0.store_fallbacks.inc();
        crate::completion::own(|| {
            tracing::event!(
                name: crate::log::COMPLETION,
                target: "observa::security",
                Level::WARN,
                event = "security.abuse_store_unavailable",
                store = "redis",
                fallback = "memory",
                error = bounded(error, 512),
            )
        });
    }

    fn recovered(&self) {
        crate::completion::own(|| {
            tracing::event!(
                name: crate::log::COMPLETION,
                target: "observa::security",
                Level::INFO,
                event = "security.abuse_store_recovered",
                store = "redis",
            )
        });
    }
}

/// The fields of a `security.violation` line (all already bounded).
struct Line<'a> {
    violation: &'static str,
    reason: Option<&'static str>,
    client_ip: Option<&'a str>,
    method: Option<&'a str>,
    route: Option<&'a str>,
    status: Option<u16>,
    permission: Option<&'a str>,
    role: Option<&'a str>,
    scope: Option<&'a str>,
    requested_tenant: Option<&'a str>,
    effective_tenant: Option<&'a str>,
    token_fp: Option<&'a str>,
    error_type: Option<&'a str>,
}

impl Line<'_> {
    // Written as one of observa's own events (trusted fields, not subject to the production
    // allowlist): every value here is a code, a bounded caller-supplied label or a fingerprint.
    fn write(&self, level: Level) {
        macro_rules! emit {
            ($lvl:expr) => {
                crate::completion::own(|| tracing::event!(
                    name: crate::log::COMPLETION,
                    target: "observa::security",
                    $lvl,
                    event = "security.violation",
                    violation = self.violation,
                    reason = self.reason,
                    client_ip = self.client_ip,
                    method = self.method,
                    route = self.route,
                    status = self.status.map(u64::from),
                    permission = self.permission,
                    role = self.role,
                    scope = self.scope,
                    requested_tenant_id = self.requested_tenant,
                    effective_tenant_id = self.effective_tenant,
                    token_fp = self.token_fp,
                    error_type = self.error_type,
                ))
            };
        }
        match level {
            Level::ERROR => emit!(Level::ERROR),
            Level::WARN => emit!(Level::WARN),
            Level::INFO => emit!(Level::INFO),
            Level::DEBUG => emit!(Level::DEBUG),
            _ => emit!(Level::TRACE),
        }
    }
}

fn abuse_line(code: Code, hit: &Hit, client_ip: Option<&str>, window_s: u64) {
    macro_rules! emit {
        ($event:literal) => {
            crate::completion::own(|| tracing::event!(
                name: crate::log::COMPLETION,
                target: "observa::security",
                Level::WARN,
                event = $event,
                violation = code.as_str(),
                client_ip = client_ip,
                count = u64::from(hit.count),
                threshold = u64::from(hit.threshold),
                window_s = window_s,
                store = hit.store.as_str(),
            ))
        };
    }
    match hit.scope {
        Scope::Host => emit!("abuse_signal_host"),
        Scope::User => emit!("abuse_signal_user"),
    }
}

/// `v` cut to at most `max` bytes on a character boundary.
pub(crate) fn bounded(v: &str, max: usize) -> &str {
    crate::encode::text::prefix(v, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_char_boundaries() {
        assert_eq!(bounded("abc", 8), "abc");
        assert_eq!(bounded("ééé", 3), "é");
    }

    #[test]
    fn levels_follow_the_seeds_and_can_be_overridden() {
        assert_eq!(Code::AuthInvalidToken.default_level(), Level::DEBUG);
        assert_eq!(Code::AuthRevoked.default_level(), Level::INFO);
        assert_eq!(Code::CrossTenantAccess.default_level(), Level::WARN);
        let s = Security::new(
            SecurityConfig::new()
                .names(Names::with_prefix("unit_levels_"))
                .level(Code::CsrfFailed, Level::ERROR),
        )
        .unwrap();
        assert_eq!(s.inner.levels[Code::CsrfFailed.index()], Level::ERROR);
        assert_eq!(s.inner.levels[Code::RateLimited.index()], Level::WARN);
    }
}
