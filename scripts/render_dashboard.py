#!/usr/bin/env python3
"""Render the main panels of the adgate Grafana dashboard to a PNG.

Reads the PromQL of each panel from deploy/grafana/adgate.json (so the
picture shows exactly what the dashboard queries), runs it as a range query
against a Prometheus that scrapes adgate, and draws a grid:

    ingest rate | drops by reason | delivered vs push attempts
    outbox bytes | event age p99  | ingest answers by status code

Usage (a Prometheus with adgate data, e.g. the one tests/it/prometheus.rs
starts; `ADGATE_DASHBOARD_PNG=docs/dashboard.png cargo test --test
prometheus -- --nocapture` runs this script against it):

    python3 scripts/render_dashboard.py --prometheus http://127.0.0.1:9090 \
        --out docs/dashboard.png --minutes 5

Needs matplotlib (python3 -m pip install matplotlib==3.10.8). Standard
library otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "adgate.json")

# (subplot title, y unit, [(dashboard panel title, refId, wrapper, legend)]).
# `wrapper` aggregates a dashboard query for a readable picture ("{}" is
# the panel's own expression); `legend` formats a series' labels.
PANELS = [
    (
        "Ingest: events/s",
        "events/s",
        [
            ("Events accepted vs rejected", "A", "{}", "accepted"),
            ("Events accepted vs rejected", "B", "sum({})", "rejected"),
        ],
    ),
    (
        "Policy drops by reason (all partners)",
        "events/s",
        [("Events dropped by partner and reason", "A", "sum by (reason) ({})", "{reason}")],
    ),
    (
        "Delivered vs push attempts",
        "per s",
        [
            ("Events delivered by partner", "A", "{}", "delivered {partner}"),
            ("Push attempts by outcome", "A", "{}", "attempts {partner} {outcome}"),
        ],
    ),
    (
        "Outbox bytes by partner",
        "bytes",
        [("Outbox bytes by partner", "A", "{}", "{partner}")],
    ),
    (
        "Event age p99 (ingest to delivery)",
        "seconds",
        [("Event age p50 / p99 by partner", "B", "{}", "{partner}")],
    ),
    (
        "Ingest answers by status code",
        "requests/s",
        [
            (
                "HTTP requests by route and code",
                "A",
                'sum by (code) (({}) and on (route) label_replace(vector(1), "route", "/v1/events", "", ""))',
                "HTTP {code}",
            )
        ],
    ),
]


def substitute(expr: str) -> str:
    """Grafana's variables as a panel expands them for "All partners"."""
    for k, v in (
        ("${partner}", ".*"),
        ("$partner", ".*"),
        ("$__rate_interval", "1m"),
        ("${__rate_interval}", "1m"),
        ("$__interval", "15s"),
    ):
        expr = expr.replace(k, v)
    if "$" in expr:
        raise SystemExit(f"unsubstituted Grafana variable in {expr!r}")
    return expr


def dashboard_queries(path: str) -> dict[tuple[str, str], str]:
    with open(path) as f:
        d = json.load(f)
    out: dict[tuple[str, str], str] = {}

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets", []):
                if "expr" in t:
                    out[(p.get("title", ""), t.get("refId", ""))] = substitute(t["expr"])
            walk(p.get("panels"))

    walk(d.get("panels"))
    return out


def query_range(prom: str, expr: str, start: float, end: float, step: float):
    qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{qs}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body.get('error')}")
    return body["data"]["result"]


def human_bytes(v: float, _pos=None) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--minutes", type=float, default=5.0, help="time range ending now")
    ap.add_argument("--dashboard", default=DASHBOARD)
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    queries = dashboard_queries(args.dashboard)
    end = time.time()
    start = end - args.minutes * 60
    step = max(1.0, (end - start) / 300)

    plt.style.use("dark_background")
    # Grafana's classic palette: distinct on a dark background.
    plt.rcParams["axes.prop_cycle"] = matplotlib.cycler(
        color=["#73BF69", "#FADE2A", "#5794F2", "#FF9830", "#F2495C", "#B877D9",
               "#8AB8FF", "#96D98D", "#FFB357", "#CA95E5"]
    )
    fig, axes = plt.subplots(2, 3, figsize=(18, 9.5), dpi=100)
    fig.patch.set_facecolor("#111217")
    drawn = 0
    for ax, (title, unit, series_specs) in zip(axes.flat, PANELS):
        ax.set_facecolor("#181b1f")
        ax.set_title(title, loc="left", fontsize=12, color="#d8d9da")
        ax.grid(True, color="#2c3235", linewidth=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        lines = 0
        for panel, ref, wrapper, legend in series_specs:
            key = (panel, ref)
            if key not in queries:
                raise SystemExit(f"dashboard has no panel {panel!r} query {ref}")
            expr = wrapper.format(queries[key])
            for s in query_range(args.prometheus, expr, start, end, step):
                pts = [(float(t), float(v)) for t, v in s["values"]]
                pts = [(t, v) for t, v in pts if math.isfinite(v)]
                # Series that stay at zero only crowd the legend.
                if not pts or all(v == 0 for _, v in pts):
                    continue
                xs = [dt.datetime.fromtimestamp(t) for t, _ in pts]
                ys = [v for _, v in pts]
                label = legend.format_map(_Default(s["metric"]))
                ax.plot(xs, ys, linewidth=1.6, label=label)
                lines += 1
        if lines == 0:
            ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes,
                    color="#8e8e8e", fontsize=14)
        else:
            drawn += 1
            ax.legend(loc="upper left", fontsize=8, framealpha=0.5, ncol=1 if lines <= 6 else 2)
        ax.set_ylabel(unit, color="#8e8e8e")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(colors="#8e8e8e", labelsize=8)
        if unit == "bytes":
            ax.yaxis.set_major_formatter(FuncFormatter(human_bytes))
    span = f"{dt.datetime.fromtimestamp(start):%Y-%m-%d %H:%M:%S} - {dt.datetime.fromtimestamp(end):%H:%M:%S}"
    fig.suptitle(
        f"adgate dashboard (deploy/grafana/adgate.json), live Prometheus data, {span}",
        fontsize=14, color="#d8d9da", x=0.01, ha="left",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, facecolor=fig.get_facecolor())
    print(f"wrote {args.out}: {drawn} of {len(PANELS)} panels with data")
    return 0 if drawn == len(PANELS) else 1


class _Default(dict):
    def __missing__(self, key):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
