"""`telecorr status`: the live figures of running workers, read from their Prometheus /metrics.

A worker serves them on its API port (`telecorr worker --api`, as `telecorr up` runs it) or on
`--metrics-port`. Several `--url`s (one per worker) are summed, with a line per worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import load_settings
from pipeline.redact import redact


def scrape(url: str, timeout_s: float = 5.0) -> dict[str, dict[tuple, float]]:
    """metric sample name -> {sorted label items: value} from one /metrics endpoint."""
    req = urllib.request.Request(url)
    token = os.environ.get("TELECORR_API_TOKEN")
    if token:  # the API's /metrics needs it like every endpoint but /healthz
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        text = resp.read().decode()
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def _sum(m: dict, name: str, **match: str) -> float:
    return sum(v for labels, v in m.get(name, {}).items() if all((k, val) in labels for k, val in match.items()))


def _by(m: dict, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for labels, v in m.get(name, {}).items():
        out[dict(labels).get(label, "")] += v
    return dict(out)


def summary(m: dict, previous: dict | None = None, dt: float = 0.0) -> list[str]:
    """Lines an operator reads at a glance."""
    rec = _by(m, "telecorr_worker_records_total", "signal")
    rows = _by(m, "telecorr_worker_rows_written_total", "table")
    total_in = sum(rec.values())
    rate = ""
    if previous is not None and dt > 0:
        before = sum(_by(previous, "telecorr_worker_records_total", "signal").values())
        rate = f"  ({(total_in - before) / dt:,.0f} records/s)"
    lines = [
        f"in:     {int(total_in):,} records" + (" (" + ", ".join(f"{k} {int(v):,}" for k, v in sorted(rec.items())) + ")"
                                                 if rec else "") + rate,
        "out:    " + (", ".join(f"{k} {int(v):,}" for k, v in sorted(rows.items())) or "nothing written yet"),
        f"lag:    {int(_sum(m, 'telecorr_worker_consumer_lag')):,} messages   "
        f"dead letters: {int(_sum(m, 'telecorr_worker_dead_letters_total')):,}   "
        f"store failures: {int(_sum(m, 'telecorr_worker_store_failures_total')):,}",
        f"traces: completed {int(_sum(m, 'telecorr_worker_traces_completed_total')):,}, "
        f"in flight {int(_sum(m, 'telecorr_worker_traces_in_flight')):,}, "
        f"completed early {int(_sum(m, 'telecorr_worker_traces_completed_early_total')):,}, "
        f"late amends {int(_sum(m, 'telecorr_worker_late_amends_total')):,}",
    ]
    joins = []
    for signal in ("log", "metric"):
        hit = _sum(m, "telecorr_worker_joins_total", signal=signal, result="hit")
        miss = _sum(m, "telecorr_worker_joins_total", signal=signal, result="miss")
        if hit + miss:
            joins.append(f"{signal}s {hit / (hit + miss):.1%} joined")
    if joins:
        lines.append("joins:  " + ", ".join(joins))
    offsets = _by(m, "telecorr_worker_clock_offset_seconds", "host")
    if offsets:
        lines.append("clocks: " + ", ".join(f"{h} {v * 1e3:+.1f} ms" for h, v in sorted(offsets.items())))
    mem = _sum(m, "process_resident_memory_bytes")
    if mem:
        lines.append(f"memory: {mem / 2**20:,.0f} MiB resident")
    built = m.get("telecorr_build_compiled", {})
    if built:  # per worker: a plain-Python install runs the join several times slower
        lines.append(f"build:  {int(sum(built.values()))} of {len(built)} hot modules compiled")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    urls = args.url or [f"http://{settings.api_host}:{settings.api_port}/metrics"]
    previous, t_prev = None, 0.0
    while True:
        merged: dict[str, dict[tuple, float]] = defaultdict(dict)
        per_worker = []
        for i, url in enumerate(urls):
            try:
                m = scrape(url)
            except urllib.error.HTTPError as exc:
                hint = " (set TELECORR_API_TOKEN to the API's token)" if exc.code == 401 else ""
                print(redact(f"telecorr status: {url} answered HTTP {exc.code}{hint}"), file=sys.stderr)
                return 1
            except (urllib.error.URLError, OSError) as exc:
                print(redact(f"telecorr status: no worker answers at {url} ({getattr(exc, 'reason', exc)}); start "
                             "one with `telecorr up` or `telecorr worker --api`"), file=sys.stderr)
                return 1
            per_worker.append((url, m))
            for name, samples in m.items():
                for labels, v in samples.items():
                    key = labels + (("worker", str(i)),)
                    merged[name][key] = v
        now = time.monotonic()
        out = [f"telecorr status: {len(urls)} worker{'s' if len(urls) > 1 else ''} "
               f"({', '.join(u for u, _ in per_worker)})"]
        out += summary(merged, previous, now - t_prev if previous is not None else 0.0)
        if len(per_worker) > 1:
            for url, m in per_worker:
                n = sum(_by(m, "telecorr_worker_records_total", "signal").values())
                out.append(f"  {url}: {int(n):,} records in, "
                           f"lag {int(_sum(m, 'telecorr_worker_consumer_lag')):,}")
        print(redact("\n".join(out)), flush=True)
        if not args.watch:
            return 0
        previous, t_prev = merged, now
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0
        print()


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="live figures of running workers (from their /metrics)")
    p.add_argument("--url", action="append", metavar="URL",
                   help="a worker's metrics URL (repeat for several; default http://api_host:api_port/metrics)")
    p.add_argument("--watch", action="store_true", help="refresh until Ctrl-C, with rates")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --watch")
    p.set_defaults(func=cmd_status)
