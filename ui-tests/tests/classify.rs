//! Compile-fail and compile-pass cases of `#[derive(Classify)]` (behaviour is tested in
//! tests/tests/observed.rs).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/classify/fail/*.rs");
    t.pass("ui/classify/pass/*.rs");
}
