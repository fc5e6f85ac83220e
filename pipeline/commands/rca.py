"""`telecorr rca` (rank root causes for a trace or a window) and `telecorr evaluate` (score the
window ranking against a simulator's ground truth).

Both read the store directly. In embedded mode a running worker owns the chDB directory; then
`telecorr rca` asks that worker's API (`telecorr worker --api`) for the same answer instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import orjson

from pipeline.api.ids import TraceIdError, normalise_trace_id
from pipeline.api.time_params import TimeFormatError, parse_time_ns
from pipeline.config import load_settings
from pipeline.rca import WindowError, rank_trace, rank_window
from pipeline.rca.evaluate import evaluate_truth, summarise
from pipeline.store.client import StoreUnavailable, connect


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_answer(answer: dict) -> str:
    """The ranking as an on-call engineer reads it: causes first, then the evidence under each."""
    lines = []
    if answer["mode"] == "trace":
        lines.append(f"Root cause for trace {answer['trace_id']} ({_utc(answer['from_ns'])} .. {_utc(answer['to_ns'])})")
    else:
        scope = f" for {answer['service']} and what it calls" if answer.get("service") else ""
        b = answer["baseline"]
        lines.append(f"Root cause{scope} in {_utc(answer['from_ns'])} .. {_utc(answer['to_ns'])} "
                     f"(baseline {_utc(b['from_ns'])} .. {_utc(b['to_ns'])})")
    lines.append(f"confidence {answer['confidence']:.2f}")
    if not answer["candidates"]:
        lines.append("  no anomaly stands out against the baseline")
    for c in answer["candidates"]:
        where = ", ".join(x for x in (c["instance"] and f"instance {c['instance']}",
                                      c["operation"] and f"operation {c['operation']}") if x)
        lines.append(f"{c['rank']:>2}. {c['service']}  [{c['kind']}]  score {c['score']:.2f}" + (f"  {where}" if where else ""))
        for e in c["evidence"]:
            lines.append(f"      {e['signal']:<6} {e['summary'].splitlines()[0] if e['summary'] else ''}")
    for n in answer.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines)


def _via_api(settings, params: dict) -> dict | None:
    """The worker's API answer, when the store is held by a worker serving one; None otherwise."""
    url = f"http://{settings.api_host}:{settings.api_port}/v1/root-cause?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url)
    token = os.environ.get("TELECORR_API_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = orjson.loads(exc.read() or b"{}")
        raise ValueError(body.get("error", f"HTTP {exc.code}")) from exc
    except (urllib.error.URLError, OSError):
        return None


def cmd_rca(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    try:
        if args.trace:
            tid = normalise_trace_id(args.trace)
            params = {"trace_id": tid, "limit": args.limit}
        else:
            lo, hi = parse_time_ns(args.from_), parse_time_ns(args.to)
            params = {"from": lo, "to": hi, "limit": args.limit, **({"service": args.service} if args.service else {})}
    except (TraceIdError, TimeFormatError) as exc:
        print(f"telecorr rca: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            client = connect(settings.clickhouse)
        except StoreUnavailable as exc:
            answer = _via_api(settings, params)
            if answer is None:
                print(f"telecorr rca: {exc}", file=sys.stderr)
                return 1
        else:
            rules = settings.rules_file or None
            if args.trace:
                answer = rank_trace(client, tid, args.limit, rules)
                if answer is None:
                    print(f"telecorr rca: trace {tid} is not stored or not correlated yet", file=sys.stderr)
                    return 1
            else:
                answer = rank_window(client, lo, hi, args.service, args.limit, rules_file=rules)
    except (WindowError, ValueError) as exc:
        print(f"telecorr rca: {exc}", file=sys.stderr)
        return 2
    print(orjson.dumps(answer).decode() if args.json else format_answer(answer))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    try:
        truth = orjson.loads(open(args.ground_truth, "rb").read())
        if not isinstance(truth.get("faults"), list):
            raise ValueError("it has no 'faults' list")
    except (OSError, ValueError) as exc:
        print(f"telecorr evaluate: cannot read ground truth {args.ground_truth}: {exc}", file=sys.stderr)
        return 2
    try:
        client = connect(settings.clickhouse)
    except StoreUnavailable as exc:
        print(f"telecorr evaluate: {exc}", file=sys.stderr)
        return 1
    results = evaluate_truth(client, truth)
    summary = summarise(results)
    if args.json:
        print(orjson.dumps({**summary, "faults_detail": results}).decode())
        return 0
    if not results:
        print("the ground truth lists no faults")
        return 0
    for r in results:
        print(f"{r['type']:16} {r['target']:28} rank {r['rank'] or '-':>2}  kind {r['kind'] or '-':10} "
              f"top {', '.join(r['top'])}")
    names = ["telecorr"] + sorted(summary["baselines"])
    print(f"\n{'fault type':16} " + "  ".join(f"{n:>24}" for n in names))
    print(f"{'':16} " + "  ".join(f"{'top1  top3   mrr':>24}" for _ in names))
    rows = dict(summary["by_type"])
    rows["all"] = {"telecorr": summary, **summary["baselines"]}
    for t, figs in rows.items():
        print(f"{t:16} " + "  ".join(f"{figs[n]['top1']:>10.2f}{figs[n]['top3']:>6.2f}{figs[n]['mrr']:>6.2f}"
                                      for n in names))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rca", parents=[common], help="rank root causes for a trace or a time window",
                       description="Rank root-cause candidates, with evidence, for one trace or for a time "
                                   "window compared with the 30 minutes stored before it.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--trace", metavar="ID", help="trace id (32 or 16 hex digits)")
    what.add_argument("--from", dest="from_", metavar="T", help="window start: RFC 3339 or Unix ns")
    p.add_argument("--to", metavar="T", help="window end: RFC 3339 or Unix ns (with --from)")
    p.add_argument("--service", metavar="S", help="only this service and what it calls (with --from/--to)")
    p.add_argument("--limit", type=int, default=5, help="candidates to show (default 5)")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    p.set_defaults(func=_checked_rca(p))

    e = sub.add_parser("evaluate", parents=[common], help="score the window ranking against simulator ground truth",
                       description="Rank every fault window of a simulator ground-truth file over what is "
                                   "stored; print top-1, top-3 and mean reciprocal rank per fault type beside "
                                   "simple baselines.")
    e.add_argument("--ground-truth", required=True, metavar="FILE", help="ground_truth.json from telecorr simulate")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)


def _checked_rca(p: argparse.ArgumentParser):
    def run(args: argparse.Namespace) -> int:
        if args.from_ and not args.to:
            p.error("--from needs --to")
        if args.to and not args.from_:
            p.error("--to needs --from")
        if args.trace and args.service:
            p.error("--service goes with --from/--to, not --trace")
        if args.limit < 1:
            p.error("--limit must be at least 1")
        return cmd_rca(args)
    return run
