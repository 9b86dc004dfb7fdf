#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from criterion's estimates (criterion/<group>/<id>/new) and the
counts the benches save (criterion/observed-counts.json, criterion/traced-counts.json), with the
issue #14 targets marked met or missed.

    python3 scripts/bench-table.py [benches/target/criterion]
"""

import json
import sys
from pathlib import Path

arg = Path(sys.argv[1] if len(sys.argv) > 1 else "benches/target/criterion")
# Accept the old argument (criterion/observed) too.
crit = arg.parent if arg.name == "observed" else arg


def median(group, name):
    p = crit / group / name / "new" / "estimates.json"
    if not p.exists():
        return None
    e = json.loads(p.read_text())["median"]
    return e["point_estimate"], e["confidence_interval"]["lower_bound"], e["confidence_interval"]["upper_bound"]


def counts(name):
    p = crit / f"{name}-counts.json"
    return json.loads(p.read_text()) if p.exists() else {}


def fmt_ns(v):
    return f"{v / 1000:.2f} us" if v >= 10000 else f"{v:.1f} ns"


def table(group, rows, ref_of, extra=None):
    """rows: (id, label, bare id, ref id or None); ratio column = overhead / overhead of ref."""
    m = {}
    for name, _, bare, ref in rows:
        for k in (name, bare, ref):
            if k and k not in m:
                m[k] = median(group, k)
    head = "| variant | time/call (median, 95% CI) | overhead over bare | ratio |"
    if extra:
        head += " " + extra[0] + " |"
    print(head)
    print("| --- " * (head.count("|") - 1) + "|")
    over = {}
    for name, label, bare, ref in rows:
        v, b = m.get(name), m.get(bare)
        if v is None or b is None:
            continue
        o = v[0] - b[0]
        over[name] = o
        rel = ""
        if ref and m.get(ref) and name != ref:
            h = m[ref][0] - b[0]
            rel = f"{o / h:.2f}x {ref_of(ref)}" if h > 0 else ""
        elif ref == name:
            rel = "1.00x (peer)"
        line = f"| {label} | {fmt_ns(v[0])} ({fmt_ns(v[1])}–{fmt_ns(v[2])}) | {o:+.1f} ns | {rel} |"
        if extra:
            line += " " + extra[1](name) + " |"
        print(line)
    print()
    return over, m


targets = []


def target(ok, text):
    targets.append(f"- **{'met' if ok else 'MISSED'}**: {text}")


names = {
    "tracing_json_prometheus": "hand-assembled",
    "tracing_tenant_json_prometheus": "hand-assembled (tenant)",
    "tracing_tenant_user_fields_json_prometheus": "hand-assembled (tenant, user, 2 fields)",
    "prometheus_only": "prometheus handles",
    "fastrace_root": "fastrace",
    "tracing_otel_json_prometheus": "tracing + otel",
}
ref_of = lambda r: "of " + names.get(r, r)

print("#### In-process calls (`observed`, one run)\n")
H, HT, HU, P = "tracing_json_prometheus", "tracing_tenant_json_prometheus", "tracing_tenant_user_fields_json_prometheus", "prometheus_only"
rows = [
    ("bare", "bare fn", "bare", None),
    ("observa_full", "`#[observed]`, full output (JSON line + counter + histogram + gauge), nothing bound", "bare", H),
    ("tracing_json_prometheus", "`#[tracing::instrument]` + fmt JSON + `info!` + hand-written prometheus, nothing bound", "bare", H),
    ("observa_tenant_full", "`#[observed(tenant)]`, full output, tenant bound", "bare", HT),
    ("tracing_tenant_json_prometheus", "`#[tracing::instrument(fields(tenant))]` + fmt JSON + `info!` + prometheus", "bare", HT),
    ("observa_tenant_user_fields_full", "`#[observed(tenant, user, fields(order_id, amount))]`, full output", "bare", HU),
    ("tracing_tenant_user_fields_json_prometheus", "`#[tracing::instrument(fields(tenant, user, order_id, amount))]` + fmt JSON + `info!` + prometheus", "bare", HU),
    ("observa_metrics_only", "`#[observed]`, line filtered out by level (metrics only), nothing bound", "bare", P),
    ("observa_tenant_metrics_only", "`#[observed(tenant)]`, line filtered out by level (metrics only), tenant bound", "bare", P),
    ("observa_no_subscriber", "`#[observed]` under a scoped `NoSubscriber` (metrics only)", "bare", P),
    ("prometheus_only", "hand-written prometheus counter + histogram + 2x `Instant::now()`", "bare", P),
    ("autometrics", "`#[autometrics]` (prometheus-0_14)", "bare", H),
    ("fastrace_unsampled", "`#[fastrace::trace]`, reporter set, no parent span", "bare", H),
    ("fastrace_sampled", "`#[fastrace::trace]` under a local parent, discarding reporter", "bare", H),
]
over, m = table("observed", rows, ref_of)
off_rows = [
    ("bare_off_build", "bare fn (feature-off build)", "bare_off_build", None),
    ("observa_feature_off", "`#[observed]`, `default-features = false`", "bare_off_build", None),
]
over_off, m_off = table("observed", off_rows, ref_of)

if "observa_tenant_metrics_only" in over and P in over:
    a, b = over["observa_tenant_metrics_only"], over[P]
    target(a <= 0.5 * b, f"metrics only, tenant bound: {a:.1f} ns vs prometheus handles {b:.1f} ns = {a / b:.2f}x (target <= 0.50x; {'' if a <= 0.5 * b else f'missed by {a - 0.5 * b:.1f} ns, {a / (0.5 * b):.1f}x the target'})")
if "observa_tenant_full" in over and HT in over:
    a, b = over["observa_tenant_full"], over[HT]
    target(a <= 0.10 * b, f"full output, tenant bound: {a:.0f} ns vs {b:.0f} ns = {a / b:.2f}x the hand-assembled stack (target <= 0.10x; {'' if a <= 0.1 * b else f'missed by {a - 0.1 * b:.0f} ns, {a / (0.1 * b):.1f}x the target'})")
if "observa_tenant_user_fields_full" in over and HU in over:
    a, b = over["observa_tenant_user_fields_full"], over[HU]
    target(a <= 0.10 * b, f"full output, tenant + user + 2 fields: {a:.0f} ns vs {b:.0f} ns = {a / b:.2f}x (target <= 0.10x)")
if "observa_metrics_only" in over and P in over:
    a, b = over["observa_metrics_only"], over[P]
    target(a <= b, f"metrics only, nothing bound (earlier target): {a:.1f} ns vs {b:.1f} ns = {a / b:.2f}x (target <= 1x)")
if m_off.get("observa_feature_off") and m_off.get("bare_off_build"):
    off, bare = m_off["observa_feature_off"], m_off["bare_off_build"]
    within = off[1] <= bare[2] and bare[1] <= off[2]
    target(within or abs(off[0] - bare[0]) < max(0.5, 0.1 * bare[0]),
           f"feature off {off[0]:.2f} ns vs bare {bare[0]:.2f} ns (target: equal within noise)")

print("#### Async fn, current-thread runtime, many calls per `block_on` (`observed_async`)\n")
A = "tracing_tenant_json_prometheus"
rows = [
    ("bare", "bare `async fn`", "bare", None),
    ("observa_tenant_full", "`#[observed(tenant)]` async, full output", "bare", A),
    ("tracing_tenant_json_prometheus", "`#[tracing::instrument(fields(tenant))]` async + fmt JSON + `info!` + prometheus", "bare", A),
    ("observa_tenant_metrics_only", "`#[observed(tenant)]` async, metrics only", "bare", None),
]
over_a, _ = table("observed_async", rows, ref_of)
if "observa_tenant_full" in over_a and A in over_a:
    a, b = over_a["observa_tenant_full"], over_a[A]
    target(a <= 0.10 * b, f"async full output, tenant bound: {a:.0f} ns vs {b:.0f} ns = {a / b:.2f}x (target <= 0.10x, as sync)")

print("#### JSON lines per second, one caller thread, 4-field `info!` (`lines`)\n")
c = counts("observed").get("lines", {})
lo, lt = median("lines", "observa"), median("lines", "tracing_subscriber_json")
print("| pipeline | time/line (median, 95% CI) | lines/s | ratio | lines written / dropped during the run |")
print("| --- | --- | --- | --- | --- |")
for key, label, v in (("observa", "observa (`observa::init`, non-blocking writer into `io::sink()`)", lo),
                      ("tracing_subscriber_json", "`tracing_subscriber::fmt().json()` into `io::sink()`", lt)):
    if v is None:
        continue
    r = f"{lt[0] / v[0]:.2f}x" if lt else ""
    cc = c.get(key, {})
    d = cc.get("dropped", "n/a (no drop counter)" if key != "observa" else "?")
    d = "? (counter not found)" if d is None else d
    print(f"| {label} | {v[0]:.1f} ns ({v[1]:.1f}–{v[2]:.1f}) | {1e3 / v[0]:.2f} M/s | {r} | {cc.get('written', '?')} / {d} |")
print()
if lo and lt:
    r = lt[0] / lo[0]
    dropped = c.get("observa", {}).get("dropped")
    target(r >= 3 and dropped == 0, f"JSON lines: {1e3 / lo[0]:.2f} M/s vs {1e3 / lt[0]:.2f} M/s = {r:.2f}x (target >= 3x), {dropped} lines dropped of {c.get('observa', {}).get('written')} (target 0)")

print("#### Traced call, spans exported over OTLP/HTTP to a local receiver (`traced`, its own process)\n")
tc = counts("traced")
T = "tracing_otel_json_prometheus"
rows = [
    ("bare", "bare fn", "bare", None),
    ("observa_tenant_full", "`#[observed(tenant)]`, OTLP on (`Config::otlp_endpoint`) + JSON line + metrics", "bare", T),
    ("tracing_otel_json_prometheus", "`#[tracing::instrument(fields(tenant))]` + `tracing-opentelemetry` + OTLP + fmt JSON + `info!` + prometheus", "bare", T),
    ("tracing_otel_span", "the same `tracing` span + `tracing-opentelemetry` + OTLP alone", "bare", T),
    ("fastrace_root", "`fastrace::Span::root` per call (tenant property) + `fastrace-opentelemetry` + OTLP", "bare", T),
]


def exported(name):
    r = tc.get("traced", {}).get(name)
    if not r:
        return ""
    calls, got = r["calls"], r["spans_received"]
    return f"{got} / {calls} ({100 * got / calls:.0f}%)" if calls else ""


over_t, _ = table("traced", rows, ref_of, ("spans received / calls", exported))
rec = tc.get("received")
if rec:
    print(f"Receiver: {rec['requests']} requests, {rec['bytes']} bytes, spans by name {rec['spans_by_name']}.\n")
if "observa_tenant_full" in over_t:
    a = over_t["observa_tenant_full"]
    if "fastrace_root" in over_t:
        b = over_t["fastrace_root"]
        target(a <= b, f"traced call, back to back: observa {a:.0f} ns vs fastrace root span + reporter {b:.0f} ns = {a / b:.2f}x (target <= 1x)")
    if T in over_t:
        b = over_t[T]
        target(a <= 0.25 * b, f"traced call, back to back: observa {a:.0f} ns vs tracing + tracing-opentelemetry stack {b:.0f} ns = {a / b:.2f}x (target <= 0.25x)")

paced = tc.get("paced")
if paced and "bare" in paced:
    print("Paced (same process, before the criterion rows): one call every ~50 us (a sleep between calls), 20,000 calls per variant, each call timed alone; overhead = median minus the bare fn's median (the timer's own cost).\n")
    print("| variant | median | p90 | p99 | mean | overhead (median) | ratio | spans received / calls |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    b = paced["bare"]["median_ns"]
    po = {}
    for name, label, _, _ in rows:
        r = paced.get(name)
        if not r:
            continue
        o = r["median_ns"] - b
        po[name] = o
        rel = ""
        if name not in ("bare", T) and paced.get(T):
            rel = f"{o / (paced[T]['median_ns'] - b):.2f}x of tracing + otel"
        elif name == T:
            rel = "1.00x (peer)"
        got = "" if name == "bare" else f"{r['spans_received']} / {r['calls']}"
        print(f"| {label} | {r['median_ns']} ns | {r['p90_ns']} ns | {r['p99_ns']} ns | {r['mean_ns']:.0f} ns | {o:+d} ns | {rel} | {got} |")
    print()
    if "observa_tenant_full" in po:
        a = po["observa_tenant_full"]
        if po.get("fastrace_root"):
            target(a <= po["fastrace_root"], f"traced call, paced (nothing dropped): observa {a} ns vs fastrace {po['fastrace_root']} ns = {a / po['fastrace_root']:.2f}x (target <= 1x)")
        if po.get(T):
            target(a <= 0.25 * po[T], f"traced call, paced: observa {a} ns vs tracing + tracing-opentelemetry {po[T]} ns = {a / po[T]:.2f}x (target <= 0.25x)")

print("#### Targets (issue #14 item 2)\n")
print("\n".join(targets))
