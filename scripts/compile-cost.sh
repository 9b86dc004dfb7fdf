#!/usr/bin/env bash
# Compile cost of `#[observed]` (BENCHMARKS.md): generates three throwaway crates under
# target/compile-cost/ with the same 500 fns (half async, all returning `Result`):
#   bare     the fns alone
#   observa  each annotated `#[observa::observed]`
#   tracing  each annotated `#[tracing::instrument(skip_all, err)]` plus one `tracing::info!`
# builds each once (dependencies), then times `touch src/lib.rs && cargo build` (debug) RUNS
# times (default 3) and prints the median per crate and the added ms per fn over bare.
#
#   scripts/compile-cost.sh            # FNS=500 RUNS=3 CARGO_INCREMENTAL=0
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fns=${FNS:-500}
runs=${RUNS:-3}
out="$root/target/compile-cost"
export CARGO_TARGET_DIR="$out/target"
# A full rebuild of the crate (default), not an incremental one that reuses cached queries of
# an unchanged file; CARGO_INCREMENTAL=1 measures the edit-compile loop instead.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
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

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Wall time and CPU time (user + sys of cargo and rustc) in ms; CPU time is the steadier number
# on a shared machine.
timed_build() { # dir -> "wall cpu"
    local f
    f=$(mktemp)
    /usr/bin/time -f "%e %U %S" -o "$f" cargo build -q --manifest-path "$1/Cargo.toml"
    awk '{printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000}' "$f"
    rm -f "$f"
}

declare -A wall cpu
for kind in bare observa tracing; do
    gen "$kind"
    cargo build -q --manifest-path "$out/$kind/Cargo.toml" >&2
    walls=() cpus=()
    for _ in $(seq "$runs"); do
        touch "$out/$kind/src/lib.rs"
        read -r w c < <(timed_build "$out/$kind")
        walls+=("$w") cpus+=("$c")
    done
    wall[$kind]=$(printf '%s\n' "${walls[@]}" | median)
    cpu[$kind]=$(printf '%s\n' "${cpus[@]}" | median)
    echo "$kind: wall ${walls[*]} ms, cpu ${cpus[*]} ms" >&2
done

awk -v n="$fns" -v b="${wall[bare]}" -v o="${wall[observa]}" -v t="${wall[tracing]}" \
    -v cb="${cpu[bare]}" -v co="${cpu[observa]}" -v ct="${cpu[tracing]}" 'BEGIN {
    ao = (o - b) / n; at = (t - b) / n; cao = (co - cb) / n; cat = (ct - cb) / n
    printf "| crate (%d fns, half async, debug) | wall (median) | added per fn | CPU user+sys (median) | added per fn |\n", n
    printf "| --- | --- | --- | --- | --- |\n"
    printf "| bare | %d ms | | %d ms | |\n", b, cb
    printf "| `#[observa::observed]` | %d ms | %.2f ms | %d ms | %.2f ms |\n", o, ao, co, cao
    printf "| `#[tracing::instrument(skip_all, err)]` + `info!` | %d ms | %.2f ms | %d ms | %.2f ms |\n", t, at, ct, cat
    printf "\nobserva / tracing added time: wall %.2fx, CPU %.2fx (target <= 0.5x): %s\n", ao / at, cao / cat, (cao / cat <= 0.5 ? "met" : "MISSED")
}'
