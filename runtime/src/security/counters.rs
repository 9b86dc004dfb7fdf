//! The security counters: names (configurable) and the registered families.

use super::abuse::Scope;
use super::code::{Code, Counted};
use crate::metrics::{CounterFamily, MetricsError};
use prometheus::IntCounter;

/// Longest label value kept; longer caller-supplied values (permission, role, scope) are cut.
const MAX_LABEL: usize = 64;

/// Metric family names of [`Security`](super::Security). The defaults are the seeds' names;
/// [`Names::with_prefix`] gives the seeds' prefixed style (`portal_csrf_blocks_total`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Authentication failures by `reason` (default `api_auth_failures_total`).
    pub auth_failures: String,
    /// RBAC denials by `permission` and `role` (default `api_permission_denied_total`).
    pub permission_denied: String,
    /// CSRF rejections (default `csrf_blocks_total`).
    pub csrf_blocks: String,
    /// Rate-limit rejections by `scope` (default `ratelimit_blocks_total`).
    pub ratelimit_blocks: String,
    /// Every violation by `code` (default `security_violations_total`).
    pub violations: String,
    /// Abuse escalations by `scope` (`host`, `user`) (default `security_abuse_signals_total`).
    pub abuse_signals: String,
    /// Switches of the abuse windows from the shared store to memory (default
    /// `security_abuse_store_fallbacks_total`).
    pub store_fallbacks: String,
}

impl Default for Names {
    fn default() -> Names {
        Names::with_prefix("")
    }
}

impl Names {
    /// The default names, each prefixed with `prefix`.
    pub fn with_prefix(prefix: &str) -> Names {
        Names {
            auth_failures: format!("{prefix}api_auth_failures_total"),
            permission_denied: format!("{prefix}api_permission_denied_total"),
            csrf_blocks: format!("{prefix}csrf_blocks_total"),
            ratelimit_blocks: format!("{prefix}ratelimit_blocks_total"),
            violations: format!("{prefix}security_violations_total"),
            abuse_signals: format!("{prefix}security_abuse_signals_total"),
            store_fallbacks: format!("{prefix}security_abuse_store_fallbacks_total"),
        }
    }
}

/// The registered families.
#[derive(Debug)]
pub(crate) struct Counters {
    auth_failures: CounterFamily,
    permission_denied: CounterFamily,
    csrf_blocks: IntCounter,
    ratelimit_blocks: CounterFamily,
    violations: CounterFamily,
    abuse_signals: CounterFamily,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) store_fallbacks: IntCounter,
}

impl Counters {
    pub(crate) fn new(n: &Names) -> Result<Counters, MetricsError> {
        Ok(Counters {
            auth_failures: CounterFamily::new(
                &n.auth_failures,
                "Authentication failures, by reason",
                &["reason"],
            )?,
            permission_denied: CounterFamily::new(
                &n.permission_denied,
                "Permission (RBAC) denials, by permission and role",
                &["permission", "role"],
            )?,
            csrf_blocks: crate::metrics::counter(
                &n.csrf_blocks,
                "Requests rejected by the CSRF check",
            )?,
            ratelimit_blocks: CounterFamily::new(
                &n.ratelimit_blocks,
                "Requests rejected by a rate limiter, by scope",
                &["scope"],
            )?,
            violations: CounterFamily::new(
                &n.violations,
                "Security violations, by code",
                &["code"],
            )?,
            abuse_signals: CounterFamily::new(
                &n.abuse_signals,
                "Abuse escalations (threshold reached in a window), by scope",
                &["scope"],
            )?,
            store_fallbacks: crate::metrics::counter(
                &n.store_fallbacks,
                "Switches of the abuse windows from the shared store to memory",
            )?,
        })
    }

    /// Counts one violation of `code` with the labels the caller gave.
    pub(crate) fn violation(
        &self,
        code: Code,
        permission: Option<&str>,
        role: Option<&str>,
        scope: Option<&str>,
    ) {
        self.violations.get(&[code.as_str()]).inc();
        match code.counted() {
            Counted::AuthFailure(reason) => self.auth_failures.get(&[reason]).inc(),
            Counted::PermissionDenied => self
                .permission_denied
                .get(&[label(permission), label(role)])
                .inc(),
            Counted::Csrf => self.csrf_blocks.inc(),
            Counted::RateLimit => self.ratelimit_blocks.get(&[label(scope)]).inc(),
            Counted::Violation => {}
        }
    }

    pub(crate) fn abuse_signal(&self, scope: Scope) {
        self.abuse_signals.get(&[scope.as_str()]).inc();
    }
}

/// A caller-supplied label value, bounded; `unknown` when absent or empty.
fn label(v: Option<&str>) -> &str {
    match v {
        Some(v) if !v.is_empty() => super::bounded(v, MAX_LABEL),
        _ => "unknown",
    }
}
