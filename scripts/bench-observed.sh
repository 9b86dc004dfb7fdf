#!/usr/bin/env bash
# Runs the `#[observed]` benchmarks in one go and prints the BENCHMARKS.md tables: the in-process
# rows, the async rows and the JSON lines per second (benches/benches/observed.rs), the traced
# rows with OTLP export to a local receiver (benches/benches/traced.rs, its own process because
# observa's pipeline is global) and the feature-off build (benches/observa-off); then the
# issue #14 targets, met or missed.
#
#   flock /tmp/observa-cargo.lock scripts/bench-observed.sh     # 1 s warm-up, 3 s measure
#   BENCH_ARGS="--measurement-time 10" scripts/bench-observed.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/benches/target}"
args=${BENCH_ARGS:-"--warm-up-time 1 --measurement-time 3"}
# shellcheck disable=SC2086
cargo bench --manifest-path "$root/benches/Cargo.toml" --bench observed -- $args >&2
# shellcheck disable=SC2086
cargo bench --manifest-path "$root/benches/Cargo.toml" --bench traced -- $args >&2
# shellcheck disable=SC2086
cargo bench --manifest-path "$root/benches/observa-off/Cargo.toml" --bench off -- $args >&2
python3 "$root/scripts/bench-table.py" "$CARGO_TARGET_DIR/criterion"
