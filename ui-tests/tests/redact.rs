//! Compile-fail and compile-pass cases of `#[derive(Redact)]` and `Secret<T>`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/redact/fail/*.rs");
    t.pass("ui/redact/pass/*.rs");
}
