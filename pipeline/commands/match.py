"""`telecorr match` (tag log lines with rule ids) and `telecorr query check` (show how a
query is understood: optimised tree and SQL, or the error and where it is)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import numpy as np
import orjson

from pipeline.ingest.logs import FORMATS, parse_logs
from pipeline.column_batch import ColumnBatch
from pipeline.ingest.logs.columns import TextColumns, lines_batch
from pipeline.query import QueryError, compile_rules, dump, optimize, parse, rules_from_setting, to_sql

BATCH_LINES = 8192
READ_BLOCK = 1 << 19  # bytes read at a time (512 KiB: a block and its scan buffer stay in L2)
_NO_RULES = b'{"line":%d,"rules":[]}\n'
_RULES = b'{"line":%%d,"rules":[%s]}\n'
_WEIGHTS = np.random.default_rng(0).integers(1, 2**63, 64, dtype=np.uint64)  # row hash of _distinct_rows


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


def read_blocks(files: list[str]) -> Iterator[bytes]:
    """The files' lines, a block of about READ_BLOCK bytes at a time: whole lines joined by
    newline (no newline after the last), as `for raw in fh` would cut them."""
    for name in files:
        fh = sys.stdin.buffer if name == "-" else open(name, "rb")
        read = fh.read1 if fh is sys.stdin.buffer else fh.read
        rest = b""
        try:
            while True:
                block = read(READ_BLOCK)
                if not block:
                    if rest:
                        yield rest
                    break
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block
                    continue
                yield rest + block[:cut]
                rest = block[cut + 1:]
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()


def line_batches(files: list[str], batch_lines: int = BATCH_LINES) -> Iterator[list[str]]:
    """The files' lines in batches, as `for raw in fh` with `raw.decode("utf-8", "replace")
    .rstrip("\r\n")` would give them, but decoded and split a block at a time (one C call
    each, not one per line). Blocks end at a newline, and no invalid UTF-8 sequence spans a
    newline, so decoding a block decodes each line exactly as alone."""
    for block in read_blocks(files):
        text = block.decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        for i in range(0, len(lines), batch_lines):
            yield lines[i:i + batch_lines]


def batches(files: list[str], fmt: str) -> Iterator[TextColumns | ColumnBatch]:
    """What the matcher reads, batch by batch. Free text stays a raw block the matcher scans
    as is (no string or record per line); other formats are parsed into records first
    (their fields come from the line's shape), on columns."""
    if fmt == "text":
        yield from map(TextColumns.from_block, read_blocks(files))
        return
    for lines in line_batches(files):
        batch = lines_batch(lines)
        parse_logs(batch, fmt)
        yield batch


class LineWriter:
    """Writes `{"line": N, "rules": [...]}` lines byte for byte as orjson writes that dict,
    from the matcher's (line, rule) pairs. A batch is one template filled by one `%` call:
    matched lines take the template of their set of rules, and a corpus has few distinct
    sets, so each is formatted once and placed with numpy."""

    def __init__(self, ids: list[str]):
        self.quoted = [orjson.dumps(i).replace(b"%", b"%%") for i in ids]
        self.templates: dict[tuple[int, ...], bytes] = {}

    def _template(self, rules: tuple[int, ...]) -> bytes:
        t = self.templates.get(rules)
        if t is None:
            t = self.templates[rules] = _RULES % b",".join([self.quoted[r] for r in rules])
        return t

    def render(self, lines: np.ndarray, rules: np.ndarray, n: int, first: int) -> bytes:
        """The batch's `n` lines, numbered from `first`; pairs sorted by line then rule."""
        tpl = np.full(n, _NO_RULES, dtype=object)
        if len(lines):
            starts = np.flatnonzero(np.concatenate(([True], lines[1:] != lines[:-1])))
            sizes = np.diff(np.append(starts, len(lines)))
            # One row per matched line: its rules, padded with -1; then one template per
            # distinct row.
            sets = np.full((len(starts), int(sizes.max())), -1, dtype=np.int64)
            sets[np.repeat(np.arange(len(starts)), sizes), np.arange(len(lines)) - np.repeat(starts, sizes)] = rules
            firsts, which = _distinct_rows(sets)
            made = [self._template(tuple(r for r in row if r >= 0)) for row in sets[firsts].tolist()]
            tpl[lines[starts]] = np.array(made, dtype=object)[which]
        return b"".join(tpl.tolist()) % tuple(range(first, first + n))


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one row of each distinct value, which of those each row equals). Rows are
    told apart by a hash, checked exactly (np.unique(axis=0) is ~15x slower; it is the
    fallback should two distinct rows ever share a hash)."""
    weights = _WEIGHTS[:rows.shape[1]]
    if len(weights) < rows.shape[1]:
        weights = np.random.default_rng(rows.shape[1]).integers(1, 2**63, rows.shape[1], dtype=np.uint64)
    keys = (rows.astype(np.uint64) * weights).sum(axis=1)  # wraps mod 2**64 by design
    _, firsts, which = np.unique(keys, return_index=True, return_inverse=True)
    which = which.reshape(-1)
    if not (rows[firsts][which] == rows).all():
        _, firsts, which = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        which = which.reshape(-1)
    return firsts, which


def run_match(args: argparse.Namespace) -> int:
    try:
        rules = rules_from_setting(args.rules)
        matcher = compile_rules(rules)
    except QueryError as exc:
        print(f"telecorr match: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    writer = LineWriter(matcher.ids)
    start = time.perf_counter()
    count = 0
    try:
        for batch in batches(args.files, args.format):
            n = len(batch)
            out.write(writer.render(*matcher.match_pairs(batch), n, count + 1))
            count += n
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
