//! `observed/bare_off_build` and `observed/observa_feature_off`: the bare fn and the annotated fn
//! of a build with observa's `enabled` feature off, side by side.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("observed");
    g.bench_function("bare_off_build", |b| {
        b.iter(|| observa_off_bench::bare(black_box(7)))
    });
    g.bench_function("observa_feature_off", |b| {
        b.iter(|| observa_off_bench::observed_off(black_box(7)))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
