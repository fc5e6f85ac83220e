"""`telecorr match` (tag log lines with rule ids) and `telecorr query check` (show how a
query is understood: optimised tree and SQL, or the error and where it is)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import orjson

from pipeline.logs import FORMATS, parse_logs
from pipeline.model import LogRecord
from pipeline.query import QueryError, compile_rules, dump, optimize, parse, rules_from_setting, to_sql

BATCH_LINES = 8192


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("match", parents=[common], help="tag log lines with the rules they match",
                       description="Reads log lines, parses them, and writes one JSON object per "
                                   'line: {"line": N, "rules": [...]}.')
    p.add_argument("--rules", metavar="RULES.yaml",
                   help="YAML rule file (default: the built-in rule pack)")
    p.add_argument("--format", default="auto", choices=[f for f in FORMATS if f != "container"],
                   help="log line format (default: detect per line)")
    p.add_argument("--stats", action="store_true",
                   help='print {"lines", "seconds", "lines_per_s"} as the last line on stderr')
    p.add_argument("files", nargs="+", metavar="FILE", help="log files; - reads standard input")
    p.set_defaults(func=run_match)

    q = sub.add_parser("query", parents=[common], help="inspect queries of the query language")
    qsub = q.add_subparsers(dest="query_command", metavar="ACTION", required=True)
    c = qsub.add_parser("check", parents=[common], help="print the optimised tree and SQL of a query")
    c.add_argument("expr", metavar="EXPR", help="the query text")
    c.set_defaults(func=run_check)


def _lines(files: list[str]) -> Iterator[str]:
    for name in files:
        fh = sys.stdin.buffer if name == "-" else open(name, "rb")
        try:
            for raw in fh:
                yield raw.decode("utf-8", "replace").rstrip("\r\n")
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()


def run_match(args: argparse.Namespace) -> int:
    try:
        rules = rules_from_setting(args.rules)
        matcher = compile_rules(rules)
    except QueryError as exc:
        print(f"telecorr match: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    start = time.perf_counter()
    count = 0
    batch: list[LogRecord] = []
    try:
        lines = _lines(args.files)
        while True:
            batch = [LogRecord(time_ns=0, body=line) for _, line in zip(range(BATCH_LINES), lines)]
            if not batch:
                break
            parse_logs(batch, args.format)
            results = matcher.match_batch(batch)
            out.write(b"".join(orjson.dumps({"line": count + i + 1, "rules": ids}) + b"\n"
                               for i, ids in enumerate(results)))
            count += len(batch)
    except OSError as exc:
        print(f"telecorr match: {exc}", file=sys.stderr)
        return 1
    out.flush()
    if args.stats:
        secs = time.perf_counter() - start
        print(orjson.dumps({"lines": count, "seconds": round(secs, 6),
                            "lines_per_s": round(count / secs, 1) if secs > 0 else 0.0}).decode(),
              file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    try:
        tree = optimize(parse(args.expr))
        sql, params = to_sql(tree)
    except QueryError as exc:
        print(exc.caret(), file=sys.stderr)
        return 2
    print("AST:")
    print(dump(tree, 1))
    print("SQL:")
    print("  " + sql)
    print("PARAMS:")
    print("  " + orjson.dumps(params).decode())
    return 0
