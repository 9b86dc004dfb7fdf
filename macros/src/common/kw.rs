//! Keyword constants: the match arms that accept a keyword and the "expected one of ..." lists
//! of the error messages are both built from these, so they cannot drift apart.

/// `` `a`, `b`, `c` ``
pub fn list(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `` `a`, `b` or `c` ``
pub fn or_list(words: &[&str]) -> String {
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => format!("`{last}`"),
        Some((last, rest)) => format!("{} or `{last}`", list(rest)),
    }
}

/// `#[observed(...)]`.
pub mod observed {
    pub const EVENT: &str = "event";
    pub const NAME: &str = "name";
    pub const LEVEL: &str = "level";
    pub const TARGET: &str = "target";
    pub const TENANT: &str = "tenant";
    pub const USER: &str = "user";
    pub const CORRELATION: &str = "correlation";
    pub const FIELDS: &str = "fields";
    pub const SKIP: &str = "skip";
    pub const ERR: &str = "err";
    pub const RET: &str = "ret";
    pub const METRICS: &str = "metrics";
    pub const METRIC: &str = "metric";
    pub const BUCKETS: &str = "buckets";
    pub const SAMPLE: &str = "sample";
    pub const STARTED: &str = "started";
    pub const SLOW_MS: &str = "slow_ms";
    pub const FUTURE: &str = "future";
    pub const SLO: &str = "slo";
    pub const BIND: &str = "bind";
    pub const LABELS: &str = "labels";
    pub const OUTCOME_LABEL: &str = "outcome_label";
    pub const OUTCOMES: &str = "outcomes";
    pub const DURATION_METRIC: &str = "duration_metric";

    /// Every key, in the order error messages list them.
    pub const ALL: &[&str] = &[
        EVENT,
        NAME,
        LEVEL,
        TARGET,
        TENANT,
        USER,
        CORRELATION,
        FIELDS,
        SKIP,
        ERR,
        RET,
        METRICS,
        METRIC,
        BUCKETS,
        SAMPLE,
        STARTED,
        SLOW_MS,
        FUTURE,
        SLO,
        BIND,
        LABELS,
        OUTCOME_LABEL,
        OUTCOMES,
        DURATION_METRIC,
    ];

    /// `err(...)`.
    pub mod err {
        pub const DISPLAY: &str = "Display";
        pub const DEBUG: &str = "Debug";
        pub const CLIENT: &str = "client";
        pub const SERVER: &str = "server";
        pub const ALL: &[&str] = &[DISPLAY, DEBUG, CLIENT, SERVER];
    }

    /// `slo(...)`.
    pub mod slo {
        pub const SUCCESS: &str = "success";
        pub const LATENCY_MS: &str = "latency_ms";
        pub const PERCENTILE: &str = "percentile";
        pub const WINDOW: &str = "window";
        pub const ALL: &[&str] = &[SUCCESS, LATENCY_MS, PERCENTILE, WINDOW];
    }

    /// `level = "..."`.
    pub mod level {
        pub const TRACE: &str = "trace";
        pub const DEBUG: &str = "debug";
        pub const INFO: &str = "info";
        pub const WARN: &str = "warn";
        pub const ERROR: &str = "error";
        pub const ALL: &[&str] = &[TRACE, DEBUG, INFO, WARN, ERROR];
    }

    /// Keys of `outcomes(...)`: the outcomes in the runtime's `Outcome::ALL` order, then
    /// `failed` (every failure not named).
    pub mod outcome {
        pub const FAILED: &str = "failed";
        pub const OUTCOMES: [&str; 5] =
            ["ok", "client_error", "server_error", "panic", "cancelled"];
        pub const ALL: &[&str] = &[
            OUTCOMES[0],
            OUTCOMES[1],
            OUTCOMES[2],
            OUTCOMES[3],
            OUTCOMES[4],
            FAILED,
        ];
    }
}

/// `#[audit(...)]`.
pub mod audit {
    pub const ACTION: &str = "action";
    pub const ACTOR: &str = "actor";
    pub const TARGET: &str = "target";
    pub const SEVERITY: &str = "severity";
    pub const REASON: &str = "reason";
    pub const CATEGORY: &str = "category";
    pub const CHANGES: &str = "changes";
    pub const POLICY: &str = "policy";
    pub const FUTURE: &str = "future";

    /// Every key, in the order error messages list them.
    pub const ALL: &[&str] = &[
        ACTION, ACTOR, TARGET, SEVERITY, REASON, CATEGORY, CHANGES, POLICY, FUTURE,
    ];

    /// `severity = "..."` (any case).
    pub const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

    /// `policy = "..."`.
    pub mod policy {
        pub const FAIL_CLOSED: &str = "fail_closed";
        pub const DEGRADE_AND_ALERT: &str = "degrade_and_alert";
        pub const ALL: &[&str] = &[FAIL_CLOSED, DEGRADE_AND_ALERT];
    }
}

/// `#[classify(...)]`.
pub mod classify {
    pub const CLIENT: &str = "client";
    pub const SERVER: &str = "server";
    pub const ALL: &[&str] = &[CLIENT, SERVER];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b`, `c`");
        assert_eq!(or_list(&["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(or_list(&["a"]), "`a`");
    }
}
