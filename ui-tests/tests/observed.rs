//! Compile-fail and compile-pass cases of `#[observed]`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/observed/fail/*.rs");
    t.pass("ui/observed/pass/*.rs");
}
