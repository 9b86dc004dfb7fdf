//! trybuild cases live in ui/; `tests/*.rs` run them.
//!
//! Built with the `enabled` feature (the default) the attributes expand; without it
//! (`cargo test -p observa-ui-tests --no-default-features`, run by `.ci/run`) they validate
//! and leave the body alone, so every case runs in both builds except the few whose error comes
//! from type-checking the instrumented body: with instrumentation off those must compile.

use std::path::PathBuf;

/// The `.rs` files of `dir` (relative to this crate), sorted.
pub fn cases(dir: &str) -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rs"))
                .map(|p| PathBuf::from(dir).join(p.file_name().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Splits the compile-fail cases of `dir`: `(fail, pass)`. With `enabled` every case must
/// fail; without it the cases named in `enabled_only` must compile instead.
pub fn fail_cases(dir: &str, enabled_only: &[&str]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let all = cases(dir);
    for name in enabled_only {
        assert!(
            all.iter()
                .any(|p| p.file_name().is_some_and(|f| f == *name)),
            "{dir}/{name} does not exist"
        );
    }
    if cfg!(feature = "enabled") {
        return (all, Vec::new());
    }
    all.into_iter().partition(|p| {
        !enabled_only
            .iter()
            .any(|n| p.file_name().is_some_and(|f| f == *n))
    })
}
