#!/usr/bin/env bash
# Runs the `#[observed]` benchmarks (benches/benches/observed.rs and the feature-off build in
# benches/observa-off) in one go and prints the BENCHMARKS.md table: time per call, overhead per
# call over the bare fn of the same run, and the ratios the targets are stated in.
#
#   scripts/bench-observed.sh                 # short criterion settings (1 s warm-up, 3 s measure)
#   BENCH_ARGS="--measurement-time 10" scripts/bench-observed.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="$root/benches/target"
args=${BENCH_ARGS:-"--warm-up-time 1 --measurement-time 3"}
# shellcheck disable=SC2086
cargo bench --manifest-path "$root/benches/Cargo.toml" --bench observed -- $args >&2
# shellcheck disable=SC2086
cargo bench --manifest-path "$root/benches/observa-off/Cargo.toml" --bench off -- $args >&2
python3 "$root/scripts/bench-table.py" "$CARGO_TARGET_DIR/criterion/observed"
