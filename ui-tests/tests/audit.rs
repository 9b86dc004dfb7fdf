//! Compile-fail and compile-pass cases of `#[audit]`.

/// Errors that come from type-checking the audited body (`From<AuditError>`, boxed futures):
/// with `enabled` off the body is left alone and these compile.
const ENABLED_ONLY: &[&str] = &[
    "boxed-future-alias-degrade-without-future.rs",
    "error-without-from-audit-error.rs",
    "future-not-boxed.rs",
    "returned-future-error-without-from-audit-error.rs",
];

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    let (fail, pass) = observa_ui_tests::fail_cases("ui/audit/fail", ENABLED_ONLY);
    for case in fail {
        t.compile_fail(case);
    }
    for case in pass {
        t.pass(case);
    }
    t.pass("ui/audit/pass/*.rs");
}
