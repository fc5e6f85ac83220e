"""`telecorr match` (tag log lines with rule ids) and `telecorr query check` (show how a
query is understood: optimised tree and SQL, or the error and where it is)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from itertools import compress

import orjson

from pipeline.ingest.logs import FORMATS, parse_logs
from pipeline.ingest.logs.columns import TextColumns
from pipeline.model import LogRecord
from pipeline.query import QueryError, RuleMatcher, compile_rules, dump, optimize, parse, rules_from_setting, to_sql

BATCH_LINES = 8192
READ_BLOCK = 1 << 20  # bytes read and decoded at a time
_NO_RULES = b'{"line":%d,"rules":[]}\n'


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


def line_batches(files: list[str], batch_lines: int = BATCH_LINES) -> Iterator[list[str]]:
    """The files' lines in batches, as `for raw in fh` with `raw.decode("utf-8", "replace")
    .rstrip("\r\n")` would give them, but decoded and split a block at a time (one C call
    each, not one per line). Blocks end at a newline, and no invalid UTF-8 sequence spans a
    newline, so decoding a block decodes each line exactly as alone."""
    for name in files:
        fh = sys.stdin.buffer if name == "-" else open(name, "rb")
        read = fh.read1 if fh is sys.stdin.buffer else fh.read
        rest = b""
        try:
            while True:
                block = read(READ_BLOCK)
                if not block:
                    tail = [rest.decode("utf-8", "replace").rstrip("\r\n")] if rest else []
                    if tail:
                        yield tail
                    break
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block
                    continue
                text = (rest + block[:cut]).decode("utf-8", "replace")
                rest = block[cut + 1:]
                lines = text.split("\n")
                if "\r" in text:
                    lines = [line.rstrip("\r") for line in lines]
                for i in range(0, len(lines), batch_lines):
                    yield lines[i:i + batch_lines]
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()


def match_lines(matcher: RuleMatcher, lines: list[str], fmt: str) -> list[tuple[str, ...]]:
    """Rule ids per line. Free text goes to the matcher as columns with no record per line;
    other formats are parsed into records first (their fields come from the line's shape)."""
    if fmt == "text":
        return matcher.match_batch(TextColumns(lines))
    batch = [LogRecord(time_ns=0, body=line) for line in lines]
    parse_logs(batch, fmt)
    return matcher.match_batch(batch)


def render(results: list[tuple[str, ...]], first: int) -> bytes:
    """One `{"line": N, "rules": [...]}` JSON line per result, numbered from `first`, byte for
    byte as orjson writes the dict. Most lines match nothing: their runs are formatted in C."""
    out: list[bytes] = []
    start = 0
    for i in compress(range(len(results)), results):
        if i > start:
            out.extend(map(_NO_RULES.__mod__, range(first + start, first + i)))
        out.append(b'{"line":%d,"rules":%s}\n' % (first + i, orjson.dumps(results[i])))
        start = i + 1
    out.extend(map(_NO_RULES.__mod__, range(first + start, first + len(results))))
    return b"".join(out)


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
    try:
        for lines in line_batches(args.files):
            out.write(render(match_lines(matcher, lines, args.format), count + 1))
            count += len(lines)
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
