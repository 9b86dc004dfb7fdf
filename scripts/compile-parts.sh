#!/usr/bin/env bash
# What each part of `#[observed(tenant)]`'s expansion costs `rustc` (issue #14, compile cost):
# instructions of `rustc` itself under callgrind (exact and repeatable where wall time is not),
# per fn = (60-fn crate - 20-fn crate) / 40, for crates written by scripts/compile-parts.py (the
# expansion by hand, parts left out by VARIANT). Dependencies are built once (debug,
# CARGO_INCREMENTAL=0); then the crate's own `rustc` command, as `cargo build -v` prints it, runs
# under callgrind. About a minute per line, after the dependencies' first build. VARIANT:SHAPE
# as compile-parts.py takes them (`macro:mix`: through the proc macro, half async).
#
#   flock /tmp/observa-cargo.lock scripts/compile-parts.sh                # the table in BENCHMARKS.md
#   flock /tmp/observa-cargo.lock scripts/compile-parts.sh full:async noinv:sync
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${OUT:-/tmp/observa-compile-parts}
export CARGO_TARGET_DIR="$out/target" CARGO_INCREMENTAL=0
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(bare:sync bare:async full:sync full:async noinv:sync nosite:sync
    noprobe:sync nocheck:sync noclosure:sync nosite-noinv-noprobe-nocheck-noclosure:sync
    bare:mix macro:mix)
for n in 20 60; do
    dir="$out/c$n"
    mkdir -p "$dir/src"
    printf '[package]\nname = "compile-parts"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[workspace]\n\n[dependencies]\nobserva = { path = "%s/runtime" }\n' "$root" >"$dir/Cargo.toml"
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    python3 "$root/scripts/compile-parts.py" full "$n" sync >"$dir/src/lib.rs"
    (cd "$dir" && cargo build -q >&2 && touch src/lib.rs &&
        cargo build -v 2>&1 | grep -o 'Running `.*--crate-name compile_parts.*`' |
        sed 's/^Running `//; s/`$//' |
        # (Environment assignments cargo may print before the program: dropped, the generated
        # crate reads none, and valgrind must be given the program itself.)
        sed -E 's/^([A-Za-z_][A-Za-z0-9_]*=[^ ]* )*//' >"$out/cmd$n")
done
for c in "${cases[@]}"; do
    variant=${c%%:*} shape=${c##*:}
    declare -A ir=()
    for n in 20 60; do
        dir="$out/c$n"
        python3 "$root/scripts/compile-parts.py" "$variant" "$n" "$shape" >"$dir/src/lib.rs"
        cmd=$(cat "$out/cmd$n")
        # (valgrind exits with rustc's status: a variant that does not compile stops here.)
        (cd "$dir" && eval "valgrind --tool=callgrind --callgrind-out-file=$out/cg$n.out $cmd" >"$out/cg$n.log" 2>&1) ||
            { echo "$c: does not compile (see $out/cg$n.log)" >&2; exit 1; }
        ir[$n]=$(grep -m1 '^summary:' "$out/cg$n.out" | awk '{print $2}')
    done
    awk -v c="$c" -v a="${ir[20]}" -v b="${ir[60]}" 'BEGIN { printf "%-48s %6.2f M rustc Ir per fn\n", c, (b - a) / 40 / 1e6 }'
done
