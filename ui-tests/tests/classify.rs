//! Compile-fail cases of `#[derive(Classify)]` (pass cases live in tests/tests/observed.rs).

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("ui/classify/fail/*.rs");
}
