#!/usr/bin/env bash
# Compile cost of `#[observed]` (BENCHMARKS.md): generates three throwaway crates under
# target/compile-cost/ with the same 500 fns (half async, all returning `Result`):
#   bare     the fns alone
#   observa  each annotated `#[observa::observed]`
#   tracing  each annotated `#[tracing::instrument(skip_all, err)]` plus one `tracing::info!`
# builds each once (dependencies), then times `touch src/lib.rs && cargo build` (debug) RUNS
# times (default 3) and prints the median per crate and the added ms per fn over bare.
#
#   scripts/compile-cost.sh            # FNS=500 RUNS=3
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fns=${FNS:-500}
runs=${RUNS:-3}
out="$root/target/compile-cost"
export CARGO_TARGET_DIR="$out/target"
mkdir -p "$out"

gen() { # kind
    local kind=$1 dir="$out/$1"
    mkdir -p "$dir/src"
    {
        echo '[package]'
        echo "name = \"compile-cost-$kind\""
        echo 'version = "0.0.0"'
        echo 'edition = "2024"'
        echo 'publish = false'
        echo
        echo '[workspace]'
        echo
        echo '[dependencies]'
        case $kind in
            observa) echo "observa = { path = \"$root/runtime\" }" ;;
            tracing) echo 'tracing = "0.1.44"' ;;
        esac
    } >"$dir/Cargo.toml"
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    python3 "$root/scripts/compile-cost-gen.py" "$kind" "$fns" >"$dir/src/lib.rs"
}

now_ms() { date +%s%3N; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A med
for kind in bare observa tracing; do
    gen "$kind"
    (cd "$out/$kind" && cargo build -q) >&2
    times=()
    for _ in $(seq "$runs"); do
        touch "$out/$kind/src/lib.rs"
        t0=$(now_ms)
        (cd "$out/$kind" && cargo build -q)
        t1=$(now_ms)
        times+=($((t1 - t0)))
    done
    med[$kind]=$(printf '%s\n' "${times[@]}" | median)
    echo "$kind: ${times[*]} ms (median ${med[$kind]} ms)" >&2
done

awk -v n="$fns" -v b="${med[bare]}" -v o="${med[observa]}" -v t="${med[tracing]}" 'BEGIN {
    ao = (o - b) / n; at = (t - b) / n
    printf "| crate (%d fns, half async, debug) | build (median) | added per fn over bare |\n", n
    printf "| --- | --- | --- |\n"
    printf "| bare | %d ms | |\n", b
    printf "| `#[observa::observed]` | %d ms | %.2f ms |\n", o, ao
    printf "| `#[tracing::instrument(skip_all, err)]` + `info!` | %d ms | %.2f ms |\n", t, at
    printf "\nobserva / tracing added time: %.2fx (target <= 0.5x): %s\n", ao / at, (ao / at <= 0.5 ? "met" : "MISSED")
}'
