#!/usr/bin/env python3
"""Draws what the generated Grafana dashboard plots, from real Prometheus data.

The data comes from the live test (tests/tests/ops_prometheus.rs), which drives a service with a
calm phase, a burst of errors and a calm phase again, then writes every dashboard expression's
`query_range` result:

    OBSERVA_OPS_PLOT=/tmp/ops-plot.json cargo test -p observa-tests --test ops_prometheus
    python3 scripts/plot_dashboard.py /tmp/ops-plot.json docs/ops-dashboard.png

Needs matplotlib (`pip install matplotlib`).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (panel title as generated, what to draw it as, threshold line or None)
PANELS = [
    ("orders.get: latency p50 / p95 / p99", "seconds", None),
    ("orders.get: error ratio", "ratio", 0.01),
    ("orders.get: throughput by outcome", "calls/s", None),
    ("HTTP error ratio (5xx) by route", "ratio", 0.01),
    ("orders.get success: remaining error budget (30d)", "budget left", 0.0),
    ("orders.get success: burn rate (1 = spends the budget in 30d)", "x budget rate", 1.0),
]


def label(legend, metric):
    if not isinstance(legend, str) or not legend:
        return ",".join(f"{k}={v}" for k, v in metric.items()) or "value"
    out = legend
    for k, v in metric.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def main(src, dst):
    with open(src) as f:
        data = json.load(f)
    t0 = min(
        (float(v[0]) for p in data for s in p["result"] or [] for v in s["values"]),
        default=0.0,
    )
    fig, axes = plt.subplots(3, 2, figsize=(13, 10), constrained_layout=True)
    for ax, (title, unit, threshold) in zip(axes.flat, PANELS):
        targets = [p for p in data if p["title"] == title]
        for p in targets:
            for s in p["result"] or []:
                xs = [float(v[0]) - t0 for v in s["values"]]
                ys = [float(v[1]) for v in s["values"]]
                ax.plot(xs, ys, label=label(p["legend"], s["metric"]))
        if threshold is not None:
            ax.axhline(threshold, color="red", linestyle="--", linewidth=1, label="objective")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("seconds since the start of traffic")
        ax.set_ylabel(unit)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "observa: the generated dashboard's queries on a real Prometheus "
        "(calm, a burst of 25% errors, calm)",
        fontsize=12,
    )
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_dashboard.py DATA.json OUT.png")
    main(sys.argv[1], sys.argv[2])
