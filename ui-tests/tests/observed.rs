//! Compile-fail and compile-pass cases of `#[observed]`.

/// Errors that come from type-checking the instrumented body (recordable values, `Display`
/// bindings, boxed futures): with `enabled` off the body is left alone and these compile.
const ENABLED_ONLY: &[&str] = &[
    "bind-not-display.rs",
    "boxed-future-alias-without-future.rs",
    "future-not-boxed.rs",
    "unrecordable-field-type.rs",
    "unrecordable-ret.rs",
];

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    let (fail, pass) = observa_ui_tests::fail_cases("ui/observed/fail", ENABLED_ONLY);
    for case in fail {
        t.compile_fail(case);
    }
    for case in pass {
        t.pass(case);
    }
    t.pass("ui/observed/pass/*.rs");
}
