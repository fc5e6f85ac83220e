"""Fuzz the query lexer, parser, optimizer and SQL compiler with random inputs.

Every input must either compile or raise the library's QueryError: any other exception is
a bug. Inputs mix uniformly random characters with mutations of valid queries (the shapes
that reach deep into the parser and the regex dialect checker). About one input in a
thousand is also built into a Hyperscan stream matcher and run over a few lines.

    python benchmarks/fuzz_query.py [--n 1000000] [--seed 1] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.model import LogRecord  # noqa: E402
from pipeline.query import QueryError, Rule, RuleMatcher, optimize, parse, to_sql  # noqa: E402
from pipeline.query.regex import compile_regex  # noqa: E402

SEEDS = [
    'service:payment AND level:error AND "connection refused"', "message:/OutOfMemoryError|OOMKilled/",
    "host:web-* AND NOT (status >= 500 OR http.request.headers.user-agent:*)", "/a(?P<x>b+)\\/c/i",
    'a OR b AND NOT c', 'level >= warn', 'x != "y"', 'café:"naïve" /[é-ü]{2,3}$/', "(((a)))",
    'k:/^\\d+\\.\\d*\\z/ OR k:/\\bfoo\\B/', 'msg:tim\\*e*', 'NOT NOT NOT x', 'a:"\\u00e9\\n"',
]
ALPHABET = list('abcXYZ019 _-.:*/\\"()<>=!^$|?+{},[]\n\té😀\x00') + ["AND", "OR", "NOT", "(?", "\\d", "[^"]


def mutate(rnd: random.Random, s: str) -> str:
    chars = list(s)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randint(0, 2)
        pos = rnd.randint(0, len(chars))
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rnd.choice(ALPHABET))
        else:
            chars[pos:pos] = list(rnd.choice(SEEDS))
    return "".join(chars)


LINES = [LogRecord(time_ns=0, body=b, severity_text="ERROR", attributes={"k": "5"})
         for b in ("", "a b", "é\nX", "status=503 OOMKilled", "\x00")]


def one(text: str, with_matcher: bool) -> bool:
    """True if it compiled, False on QueryError; anything else propagates. With
    `with_matcher`, a compiled query is also built into a stream matcher and run."""
    try:
        tree = optimize(parse(text))
        to_sql(tree)
        if with_matcher:
            RuleMatcher([Rule("q", text)]).match_batch(LINES)
        return True
    except QueryError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fuzz the query language front end")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="50,000 inputs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    n = 50_000 if args.quick else args.n
    rnd = random.Random(args.seed)
    ok = bad = 0
    t0 = time.perf_counter()
    for i in range(n):
        if i % 2:
            text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 30)))
        else:
            text = mutate(rnd, rnd.choice(SEEDS))
        try:
            if one(text, with_matcher=i % 997 == 0):
                ok += 1
            else:
                bad += 1
        except Exception:  # the bug this fuzzer looks for
            print(f"input {i}: {text!r} raised something other than QueryError:", file=sys.stderr)
            traceback.print_exc()
            return 1
        if i % 200_000 == 0:
            compile_regex.cache_clear()  # keep memory flat over a long run
    secs = time.perf_counter() - t0
    print(f"{n} inputs in {secs:.1f}s ({n / secs:,.0f}/s): {ok} compiled, {bad} QueryError, 0 other errors")
    if args.json:
        print(json.dumps({"inputs": n, "compiled": ok, "query_errors": bad, "other_errors": 0,
                          "inputs_per_s": round(n / secs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
