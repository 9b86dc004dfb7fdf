//! Compile-fail and compile-pass cases of `#[audit]`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/audit/fail/*.rs");
    t.pass("ui/audit/pass/*.rs");
}
