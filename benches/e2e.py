#!/usr/bin/env python3
"""benches/e2e.sh's measuring half (standard library only).

  e2e.py watch --label L --kind K --partners N --pid PID --load LOAD.json \
               --stop STOPFILE --rows ROWS.jsonl [--url ADGATE_URL] [--drain] \
               [--drain-max 120] [--interval 0.1] [--extra JSON]
      Samples adgate's /metrics (--url) every --interval s from before the
      load starts. When STOPFILE appears (e2e.sh writes it when adgate-load
      exits, after LOAD.json), it keeps sampling with --drain until every
      routed event was delivered (adgate_events_delivered_total >=
      adgate_events_routed_total for every partner) or --drain-max s passed,
      then appends one row (JSON) to ROWS.jsonl: the load's figures, the
      counters at the end of the load and when drained, the process's CPU.

  e2e.py table ROWS.jsonl OUT.json HEADER
      Prints the table and the goal ratios, writes them to OUT.json.

Definitions (see docs/performance.md):
  ingested/s   adgate-load's accepted events per second in its measured
               window (warm-up excluded).
  sustained/s  events adgate accepted over the whole row (received minus
               rejected, warm-up included) / seconds from its first
               ingested event until every routed event was delivered.
  deliv/routed delivered / routed in the last sample taken while the load
               ran (both counted from the start, for every partner): the
               share of what was accepted that was delivered under load.
"""

import json
import os
import re
import sys
import time
import urllib.request

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
PARTNER = re.compile(r'partner="([^"]*)"')
LE = re.compile(r'le="([^"]*)"')


def scrape(url):
    """Sums and per-partner values of the counters the row needs."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    s = {"received": 0.0, "rejected": 0.0, "duplicates": 0.0, "overloaded": 0.0,
         "routed": {}, "delivered": {}, "outbox_events": {},
         "ingest_le": {}}  # POST /v1/events duration histogram: bound (s) -> count
    names = {"adgate_events_received_total": "received",
             "adgate_events_rejected_total": "rejected",
             "adgate_events_duplicate_total": "duplicates",
             "adgate_ingest_overloaded_total": "overloaded"}
    per = {"adgate_events_routed_total": "routed",
           "adgate_events_delivered_total": "delivered",
           "adgate_outbox_events": "outbox_events"}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "adgate_http_request_duration_seconds_bucket" and 'route="/v1/events"' in labels:
            le = LE.search(labels)
            if le:
                s["ingest_le"][le.group(1)] = value
        elif name in names:
            s[names[name]] += value
        elif name in per:
            p = PARTNER.search(labels)
            key = p.group(1) if p else ""
            s[per[name]][key] = s[per[name]].get(key, 0.0) + value
    return s


def cpu_s(pid):
    """User + system CPU seconds of a process (and its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def hwm_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def total(d):
    return sum(d.values())


def drained(s):
    return all(s["delivered"].get(p, 0.0) >= r for p, r in s["routed"].items())


def watch(a):
    url, interval = a.get("url"), float(a.get("interval", 0.1))
    drain, drain_max = "drain" in a, float(a.get("drain-max", 120))
    pid, stop = a["pid"], a["stop"]
    cpu0 = cpu_s(pid)
    samples = []  # (t, scrape)
    t_zero = t_first = t_stop = t_drained = None
    at_stop = None
    while True:
        now = time.time()
        try:
            s = scrape(url) if url else None
        except OSError:  # busy or gone: keep the previous sample
            s = samples[-1][1] if samples else None
        if s is not None:
            samples.append((now, s))
            ingested = s["received"] - s["rejected"]
            if ingested == 0:
                t_zero = now
            elif t_first is None:
                # Between the last sample without events and this one.
                t_first = (t_zero + now) / 2 if t_zero else now
        if t_stop is None and os.path.exists(stop):
            t_stop = now
            # The last sample taken while the load still ran (this one may
            # already include up to --interval s of delivery without load).
            at_stop = samples[-2][1] if len(samples) >= 2 else s
        if t_stop is not None:
            if not (drain and s is not None):
                break
            if drained(s) and total(s["routed"]) > 0:
                t_drained = now
                break
            if now - t_stop > drain_max:
                break
        time.sleep(max(0.0, interval - (time.time() - now)))
    cpu1 = cpu_s(pid)
    with open(a["load"]) as f:
        text = f.read().strip().splitlines()
    load = json.loads(text[-1]) if text else {}
    row = {
        "label": a["label"], "kind": a["kind"], "partners": int(a["partners"]),
        "ingested_per_s": load.get("events_per_sec"),
        "p50_ms": load.get("p50_ms"), "p99_ms": load.get("p99_ms"),
        "p999_ms": load.get("p999_ms"),
        "load": {k: load.get(k) for k in ("accepted", "sent", "requests", "statuses",
                                          "errors", "duration_s", "connections", "batch",
                                          "target_rate")},
        "peak_rss_mb": hwm_mb(pid),
    }
    if a["kind"] == "floor" and load.get("duration_s"):
        # nginx answers 204 without counting: what was sent is the figure.
        row["ingested_per_s"] = (load.get("sent") or 0) / load["duration_s"]
    if a.get("extra"):
        row.update(json.loads(a["extra"]))
    end = samples[-1][1] if samples else None
    if end is not None:
        ingested = end["received"] - end["rejected"]
        row.update({
            "ingested_total": ingested,
            "routed_total": total(end["routed"]),
            "delivered_total": total(end["delivered"]),
            "overloaded_503": end["overloaded"],
            "peak_outbox_events": max(total(s["outbox_events"]) for _, s in samples),
        })
        # Server-side: the share of ingest requests (warm-up included) that
        # took longer than 25 and 50 ms at the gateway, from its histogram.
        # Unlike the generator's p99 it leaves out the time a request waits
        # on the generator's side of a machine shared with it.
        le = end["ingest_le"]
        if le.get("+Inf"):
            for bound, key in (("0.025", "server_over_25ms_pct"), ("0.05", "server_over_50ms_pct")):
                if bound in le:
                    row[key] = 100.0 * (1 - le[bound] / le["+Inf"])
        if drain and at_stop is not None and total(at_stop["routed"]) > 0:
            row["delivered_over_routed"] = total(at_stop["delivered"]) / total(at_stop["routed"])
            row["routed_at_stop"] = total(at_stop["routed"])
            row["delivered_at_stop"] = total(at_stop["delivered"])
        if t_first is not None and t_stop is not None:
            row["ingest_window_s"] = t_stop - t_first
        if drain:
            if t_drained is not None and t_first is not None:
                row["drain_s"] = t_drained - t_stop
                row["sustained_per_s"] = ingested / (t_drained - t_first)
            else:
                row["drain_s"] = None
                row["sustained_per_s"] = None
                row["note"] = f"not drained within {drain_max:.0f} s of the load's end"
    if cpu0 is not None and cpu1 is not None:
        n = row.get("ingested_total") or load.get("accepted") or 0
        row["cpu_s"] = cpu1 - cpu0
        row["cpu_s_per_1m"] = (cpu1 - cpu0) / (n / 1e6) if n else None
    with open(a["rows"], "a") as f:
        f.write(json.dumps(row) + "\n")


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows_path, out_path, header):
    rows = [json.loads(l) for l in open(rows_path) if l.strip()]
    find = lambda kind, n=None: next((r for r in rows if r["kind"] == kind and
                                      (n is None or r["partners"] == n)), None)
    ceil1 = find("ceiling", 1) or find("ceiling")
    c = ceil1["ingested_per_s"] if ceil1 else None
    emb = find("push", 1)

    def vs_ceiling(r):
        v = r.get("sustained_per_s") if r["kind"] in ("push", "jetstream") else r["ingested_per_s"]
        return v / c if v and c and r["kind"] != "latency" else None

    print(header)
    cols = ("setup", "ingested/s", "sustained/s", "deliv/routed", "drain_s", "p50_ms",
            "p99_ms", "vs_ceiling", "503s", "cpu_s/1M")
    print("%-34s %11s %11s %12s %8s %8s %8s %10s %7s %9s" % cols)
    for r in rows:
        r["vs_ceiling_1p"] = vs_ceiling(r)
        st = (r.get("load") or {}).get("statuses") or {}
        refused = sum(v for k, v in st.items() if k in ("503", "429"))
        print("%-34s %11s %11s %12s %8s %8s %8s %10s %7s %9s" % (
            r["label"], fmt(r.get("ingested_per_s"), ".0f"), fmt(r.get("sustained_per_s"), ".0f"),
            fmt(r.get("delivered_over_routed"), ".3f"), fmt(r.get("drain_s"), ".1f"),
            fmt(r.get("p50_ms"), ".1f"), fmt(r.get("p99_ms"), ".1f"),
            fmt(r["vs_ceiling_1p"], ".2f"), refused, fmt(r.get("cpu_s_per_1m"), ".2f")))
        if r.get("note"):
            print("%-34s %s" % ("", r["note"]))

    def ratio(a, b):
        return a / b if a and b else None

    js = [r for r in rows if r["kind"] == "jetstream"]
    js1 = next((r for r in js if r.get("nats") == "R1"), None)
    js3 = next((r for r in js if r.get("nats") == "R3"), None)
    lat = find("latency")
    p1, p3 = find("push", 1), find("push", 3)
    pc1, pc3 = find("policy_ceiling", 1), find("policy_ceiling", 3)
    ceil3 = find("ceiling", 3)
    ing = lambda r: r and r.get("ingested_per_s")
    sus = lambda r: r and r.get("sustained_per_s")
    goals = [
        ("sustained push, 1 partner / ceiling", ratio(p1 and p1.get("sustained_per_s"), c), ">= 0.70"),
        ("sustained push, 3 partners / ceiling", ratio(p3 and p3.get("sustained_per_s"), c), ">= 0.50"),
        ("ingest only (pull) / ceiling", ratio((find("ingest") or {}).get("ingested_per_s"), c), "-"),
        ("policy ceiling / ceiling, 1 partner", ratio(ing(pc1), ing(ceil1)), "-"),
        ("policy ceiling / ceiling, 3 partners", ratio(ing(pc3), ing(ceil3)), "-"),
        ("sustained push, 1 partner / policy ceiling", ratio(sus(p1), ing(pc1)), "-"),
        ("sustained push, 3 partners / policy ceiling", ratio(sus(p3), ing(pc3)), "-"),
        ("delivered / routed at saturation, 1 partner", p1 and p1.get("delivered_over_routed"), ">= 0.95 over 60 s"),
        ("delivered / routed at saturation, 3 partners", p3 and p3.get("delivered_over_routed"), ">= 0.95 over 60 s"),
        ("p99 ms at 80% of sustained, 1 partner", lat and lat.get("p99_ms"), "< 20"),
        ("  at 80%: % of requests over 25 ms at the server", lat and lat.get("server_over_25ms_pct"), "-"),
        ("  at 80%: % of requests over 50 ms at the server", lat and lat.get("server_over_50ms_pct"), "-"),
        ("jetstream 1 node / embedded (ingested)", ratio(js1 and js1.get("ingested_per_s"), emb and emb.get("ingested_per_s")), ">= 0.60"),
        ("jetstream 3 nodes R3 / embedded (ingested)", ratio(js3 and js3.get("ingested_per_s"), emb and emb.get("ingested_per_s")), ">= 0.35"),
        ("jetstream 1 node / embedded (sustained)", ratio(js1 and js1.get("sustained_per_s"), emb and emb.get("sustained_per_s")), "-"),
        ("jetstream 3 nodes R3 / embedded (sustained)", ratio(js3 and js3.get("sustained_per_s"), emb and emb.get("sustained_per_s")), "-"),
    ]
    print()
    print("%-46s %8s  %s" % ("ratio", "value", "goal (issue 17)"))
    for name, v, goal in goals:
        print("%-46s %8s  %s" % (name, fmt(v, ".3f"), goal))
    with open(out_path, "w") as f:
        json.dump({"header": header, "ceiling_per_s": c, "rows": rows,
                   "ratios": {name: v for name, v, _ in goals},
                   "goals": {name: g for name, _, g in goals}}, f, indent=2)
        f.write("\n")
    print(f"\nwritten to {out_path}")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "table" and len(sys.argv) == 5:
        table(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "watch":
        a, args = {}, sys.argv[2:]
        i = 0
        while i < len(args):
            k = args[i].lstrip("-")
            if k == "drain":
                a[k] = True
                i += 1
            else:
                a[k] = args[i + 1]
                i += 2
        for req in ("label", "kind", "partners", "pid", "load", "stop", "rows"):
            if req not in a:
                sys.exit(f"e2e.py watch: --{req} is required")
        watch(a)
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
