#!/usr/bin/env bash
# Instruction counts of the tenant-bound metrics-only path (issue #14: callgrind counts are
# stable on the shared machines where wall time is not). Builds benches/examples/callgrind_tenant.rs
# (bench profile, benches/target), runs it under callgrind for observa, the hand-written
# prometheus peer and the bare fn, N calls each (default 100000), collecting only the loop
# (`run`), and prints instructions per call and observa's top inclusive costs. `plain` is the
# same observa fn with nothing bound (what binding the tenant adds); `full` the tenant-bound fn at
# INFO (full output, the caller's thread only), with its top inclusive costs too.
#
#   flock /tmp/observa-cargo.lock scripts/bench-callgrind.sh      # N=100000 TOP=30
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/benches/target}"
n=${N:-100000}
top=${TOP:-30}
out="$CARGO_TARGET_DIR/callgrind"
mkdir -p "$out"
cargo build -q --profile bench --manifest-path "$root/benches/Cargo.toml" --example callgrind_tenant >&2
bin="$CARGO_TARGET_DIR/release/examples/callgrind_tenant"
for which in bare prometheus plain observa full; do
    valgrind --tool=callgrind --callgrind-out-file="$out/$which.out" \
        --toggle-collect='*callgrind_tenant::run*' "$bin" "$which" "$n" >/dev/null 2>"$out/$which.log"
    ir=$(callgrind_annotate "$out/$which.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
    printf '%s: %s Ir in %s calls = %.1f Ir/call\n' "$which" "$ir" "$n" "$(echo "$ir / $n" | bc -l)"
done
echo
echo "observa, top inclusive costs (Ir, % of the collected loop):"
callgrind_annotate --inclusive=yes "$out/observa.out" >"$out/observa.inclusive.txt" 2>/dev/null
sed -n "/file:function/,+$((top + 1))p" "$out/observa.inclusive.txt"
echo
echo "observa, top self costs:"
callgrind_annotate "$out/observa.out" >"$out/observa.self.txt" 2>/dev/null
sed -n "/file:function/,+$((top / 2 + 1))p" "$out/observa.self.txt"
echo
echo "full output (caller's thread), top inclusive costs:"
callgrind_annotate --inclusive=yes "$out/full.out" >"$out/full.inclusive.txt" 2>/dev/null
sed -n "/file:function/,+$((top + 1))p" "$out/full.inclusive.txt"
