#!/usr/bin/env python3
"""Prints the BENCHMARKS.md table from criterion's estimates (criterion/observed/<id>/new)."""

import json
import sys
from pathlib import Path

base = Path(sys.argv[1] if len(sys.argv) > 1 else "benches/target/criterion/observed")


def median(name):
    p = base / name / "new" / "estimates.json"
    if not p.exists():
        return None
    e = json.loads(p.read_text())["median"]
    return e["point_estimate"], e["confidence_interval"]["lower_bound"], e["confidence_interval"]["upper_bound"]


rows = [
    ("bare", "bare fn", "bare"),
    ("observa_full", "`#[observed]`, full output (span + JSON line + counter + histogram + gauge)", "bare"),
    ("observa_metrics_only", "`#[observed]`, logs filtered out by level (metrics only)", "bare"),
    ("observa_no_subscriber", "`#[observed]` under a scoped `NoSubscriber` (metrics only)", "bare"),
    ("tracing_json_prometheus", "`#[tracing::instrument]` + fmt JSON + hand-written prometheus", "bare"),
    ("prometheus_only", "hand-written prometheus counter + histogram + 2x `Instant::now()`", "bare"),
    ("autometrics", "`#[autometrics]` (prometheus-0_14)", "bare"),
    ("fastrace_unsampled", "`#[fastrace::trace]`, reporter set, no parent span", "bare"),
    ("fastrace_sampled", "`#[fastrace::trace]` under a local parent, discarding reporter", "bare"),
    ("bare_off_build", "bare fn (feature-off build)", "bare_off_build"),
    ("observa_feature_off", "`#[observed]`, `default-features = false`", "bare_off_build"),
]

m = {name: median(name) for name, _, _ in rows}
ref = m.get("tracing_json_prometheus")
print("| variant | time/call (median, 95% CI) | overhead over bare | overhead / hand-assembled |")
print("| --- | --- | --- | --- |")
over = {}
for name, label, bare in rows:
    v, b = m.get(name), m.get(bare)
    if v is None or b is None:
        continue
    o = v[0] - b[0]
    over[name] = o
    rel = ""
    if ref and m.get("bare") and name not in ("bare", "bare_off_build"):
        h = ref[0] - m["bare"][0]
        rel = f"{o / h:.2f}x" if h > 0 else ""
    print(f"| {label} | {v[0]:.1f} ns ({v[1]:.1f}–{v[2]:.1f}) | {o:+.1f} ns | {rel} |")

print()
def target(ok, text):
    print(f"- {'met' if ok else 'MISSED'}: {text}")

if "observa_full" in over and "tracing_json_prometheus" in over:
    r = over["observa_full"] / over["tracing_json_prometheus"]
    target(r <= 0.25, f"full output overhead = {r:.2f}x the hand-assembled alternative (target <= 0.25x)")
if "observa_metrics_only" in over and "prometheus_only" in over:
    a, b = over["observa_metrics_only"], over["prometheus_only"]
    target(a <= b, f"metrics only {a:.1f} ns vs hand-written prometheus handles {b:.1f} ns (target <=)")
if "observa_feature_off" in m and "bare_off_build" in m:
    off, bare = m["observa_feature_off"], m["bare_off_build"]
    # Equal within noise: the CIs overlap, or the gap is under 0.5 ns / 10% (code alignment).
    within = off[1] <= bare[2] and bare[1] <= off[2]
    target(within or abs(over["observa_feature_off"]) < max(0.5, 0.1 * bare[0]),
           f"feature off {off[0]:.2f} ns vs bare {bare[0]:.2f} ns (target: equal within noise)")
