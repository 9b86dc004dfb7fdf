//! The violation codes: one table owns each code's text, level and counter.

use tracing::Level;

/// Which counter a violation increments (besides the per-code violations counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    /// `api_auth_failures_total{reason}` with this reason.
    AuthFailure(&'static str),
    /// `api_permission_denied_total{permission, role}`.
    PermissionDenied,
    /// `csrf_blocks_total`.
    Csrf,
    /// `ratelimit_blocks_total{scope}`.
    RateLimit,
    /// Only the per-code counter.
    Violation,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal, $level:ident, $counted:expr; )*) => {
        /// A stable violation code: the `violation` field of `security.violation` lines and the
        /// `code` label of the violations counter. The text never changes once released, so
        /// dashboards and alerts can match on it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable text of the code (`auth_invalid_token`, ...).
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// The level its line is written at unless configured otherwise.
            pub const fn default_level(self) -> Level {
                match self { $(Code::$variant => Level::$level,)* }
            }

            pub(crate) const fn counted(self) -> Counted {
                match self { $(Code::$variant => $counted,)* }
            }

            pub(crate) const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

codes! {
    /// No credentials on a request that needs them. DEBUG (seed 000: token anomalies are
    /// DEBUG, abuse detection escalates); `api_auth_failures_total{reason="missing"}`.
    AuthMissing => "auth_missing", DEBUG, Counted::AuthFailure("missing");
    /// A token that does not validate (bad signature, malformed, missing claim). DEBUG;
    /// `api_auth_failures_total{reason="invalid_token"}`.
    AuthInvalidToken => "auth_invalid_token", DEBUG, Counted::AuthFailure("invalid_token");
    /// An expired token. DEBUG; `api_auth_failures_total{reason="expired"}`.
    AuthExpired => "auth_expired", DEBUG, Counted::AuthFailure("expired");
    /// A revoked (blacklisted) token. INFO (seed 000); `api_auth_failures_total{reason="revoked"}`.
    AuthRevoked => "auth_revoked", INFO, Counted::AuthFailure("revoked");
    /// A token whose subject is unknown or malformed. DEBUG;
    /// `api_auth_failures_total{reason="invalid_subject"}`.
    AuthInvalidSubject => "auth_invalid_subject", DEBUG, Counted::AuthFailure("invalid_subject");
    /// An authenticated caller without the permission (RBAC denial). WARN (seed 001: entitlement
    /// denied); `api_permission_denied_total{permission, role}`.
    PermissionDenied => "permission_denied", WARN, Counted::PermissionDenied;
    /// A request rejected by the CSRF check. WARN (seed 002: auth failures at WARNING);
    /// `csrf_blocks_total`.
    CsrfFailed => "csrf_failed", WARN, Counted::Csrf;
    /// A request rejected by a rate limiter. WARN (seed 001: rate limit hit);
    /// `ratelimit_blocks_total{scope}`.
    RateLimited => "rate_limited", WARN, Counted::RateLimit;
    /// A caller of one tenant asking for another tenant's data, with the requested and the
    /// effective tenant. WARN (seed 000 phase 7.2).
    CrossTenantAccess => "cross_tenant_access", WARN, Counted::Violation;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_indexed_in_order() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            for d in &Code::ALL[i + 1..] {
                assert_ne!(c.as_str(), d.as_str());
            }
        }
    }
}
