"""`telecorr match --format text --stats` on a multi-format corpus with 1,000+ rules, stage by
stage, before (one LogRecord per line, parse_logs, orjson per line) and after (columns).

The corpus (tests/match_corpus.py): the simulator's log text in both profiles, nezha-ob log
bodies and hand-made lines in every format the parser knows. The rule pack: the default pack,
phrase rules on words rare in the corpus and templated failure-message regexes
(benchmarks/rules.py) up to --rules. It prints:
  - the command's own --stats figure (a subprocess, best of --rounds);
  - µs per line for each stage (read, parse, tag, template, write), before and after, in this
    process; `telecorr match` has no template stage (log templates are mined by the worker);
  - the limit beside it: the same Hyperscan database over the same lines, no callback;
  - the same with a pack that also reads level and trace ids (the lazy columns then parse).

    python benchmarks/match.py [--quick] [--json] [--lines N] [--rules N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from pipeline.commands.match import line_batches, render  # noqa: E402
from pipeline.ingest.logs import parse_logs  # noqa: E402
from pipeline.ingest.logs.columns import TextColumns  # noqa: E402
from pipeline.model import LogRecord  # noqa: E402
from pipeline.query import RuleMatcher  # noqa: E402
from benchmarks.rules import bench_hs_scan  # noqa: E402
from tests.match_corpus import corpus, rule_pack, write_rules  # noqa: E402

STAGES = ("read", "parse", "tag", "template", "write")


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _read_before(path: Path) -> list[list[str]]:
    with open(path, "rb") as fh:
        lines = [raw.decode("utf-8", "replace").rstrip("\r\n") for raw in fh]
    return [lines[i:i + 8192] for i in range(0, len(lines), 8192)]


def _stages_before(matcher: RuleMatcher, batches: list[list[str]]) -> tuple[list, float, float, float]:
    """(results, parse s, tag s, write s), batch by batch as the command ran (records of a
    batch are dropped before the next, so the collector's work is what it was)."""
    results, tp, tt, tw, n = [], 0.0, 0.0, 0.0, 0
    for b in batches:
        t0 = time.perf_counter()
        recs = [LogRecord(time_ns=0, body=line) for line in b]
        parse_logs(recs, "text")
        t1 = time.perf_counter()
        res = matcher.match_batch(recs)
        t2 = time.perf_counter()
        b"".join(orjson.dumps({"line": n + i + 1, "rules": ids}) + b"\n" for i, ids in enumerate(res))
        t3 = time.perf_counter()
        tp, tt, tw, n = tp + t1 - t0, tt + t2 - t1, tw + t3 - t2, n + len(b)
        results.extend(res)
    return results, tp, tt, tw


def _stages_after(matcher: RuleMatcher, batches: list[list[str]]) -> tuple[list, float, float, float]:
    """The same for the columnar path; parse derives every column the rules read."""
    results, tp, tt, tw, n = [], 0.0, 0.0, 0.0, 0
    for b in batches:
        t0 = time.perf_counter()
        cols = TextColumns(b)
        matcher.prepare(cols)
        t1 = time.perf_counter()
        res = matcher.match_batch(cols)
        t2 = time.perf_counter()
        render(res, n + 1)
        t3 = time.perf_counter()
        tp, tt, tw, n = tp + t1 - t0, tt + t2 - t1, tw + t3 - t2, n + len(b)
        results.extend(res)
    return results, tp, tt, tw


def stage_profile(path: Path, matcher: RuleMatcher, rounds: int) -> dict[str, dict[str, float]]:
    """Best-of-rounds µs per line of each stage, before and after (rounds alternate)."""
    best: dict[str, dict[str, float]] = {side: {s: float("inf") for s in STAGES} for side in ("before", "after")}
    for _ in range(rounds):
        for side, read, stages in (("before", _read_before, _stages_before),
                                   ("after", lambda p: list(line_batches([str(p)])), _stages_after)):
            batches, t_read = _timed(read, path)
            n = sum(map(len, batches))
            res, t_parse, t_tag, t_write = stages(matcher, batches)
            if side == "before":
                want = res
            elif res != want:
                raise SystemExit("before and after disagree")
            for s, t in zip(STAGES, (t_read, t_parse, t_tag, 0.0, t_write)):
                best[side][s] = min(best[side][s], t / n * 1e6)
    return best


def hs_limit(path: Path, matcher: RuleMatcher, rounds: int) -> float:
    """Best lines/s of the matcher's Hyperscan database alone over the same lines
    (benchmarks/rules.py's measure: NUL-joined ~32 KB chunks, no callback)."""
    lines = [line for b in line_batches([str(path)]) for line in b]
    return max(bench_hs_scan(matcher, lines, 8192) for _ in range(rounds))


def cli_rate(path: Path, rules: Path, rounds: int) -> float:
    """Best --stats lines_per_s of the installed command (a subprocess per round)."""
    best = 0.0
    for _ in range(rounds):
        res = subprocess.run([sys.executable, "-m", "pipeline.cli", "match", "--rules", str(rules),
                              "--format", "text", "--stats", str(path)],
                             capture_output=True, check=True, cwd=REPO)
        best = max(best, orjson.loads(res.stderr.splitlines()[-1])["lines_per_s"])
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds (default 7)")
    ap.add_argument("--json", action="store_true", help="last stdout line is a JSON object of figures")
    ap.add_argument("--lines", type=int, default=32_000)
    ap.add_argument("--rules", type=int, default=1_363)
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else 7
    work = Path(tempfile.mkdtemp(prefix="telecorr-match-"))
    lines = corpus(args.lines)
    path = work / "corpus.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pack = rule_pack(lines, args.rules, fields=False)
    field_pack = rule_pack(lines, args.rules, fields=True)
    rules_file = write_rules(pack, work / "rules.yaml")
    fields_file = write_rules(field_pack, work / "rules-fields.yaml")
    matcher = RuleMatcher(pack)

    cli = cli_rate(path, rules_file, rounds)
    cli_fields = cli_rate(path, fields_file, rounds)
    prof = stage_profile(path, matcher, rounds)
    prof_fields = stage_profile(path, RuleMatcher(field_pack), rounds)
    hs = hs_limit(path, matcher, rounds)
    total = {side: sum(prof[side].values()) for side in prof}

    print(f"corpus: {len(lines)} lines, {path.stat().st_size / len(lines):.0f} bytes/line; "
          f"{len(pack)} rules (field pack: {len(field_pack)})")
    print(f"telecorr match --format text --stats : {cli:12,.0f} lines/s (best of {rounds})")
    print(f"  with rules on level and trace ids  : {cli_fields:12,.0f} lines/s")
    print(f"hyperscan alone, same db and lines   : {hs:12,.0f} lines/s")
    print("µs per line     " + "".join(f"{s:>10}" for s in STAGES) + "     total")
    for label, p in (("before", prof["before"]), ("after", prof["after"]),
                     ("before+fields", prof_fields["before"]), ("after+fields", prof_fields["after"])):
        print(f"{label:16}" + "".join(f"{p[s]:10.2f}" for s in STAGES) + f"{sum(p.values()):10.2f}")
    figures = {
        "lines": len(lines), "rules": len(pack), "cli_lines_per_s": round(cli),
        "cli_fields_lines_per_s": round(cli_fields), "hs_scan_lines_per_s": round(hs),
        "in_process_before_lines_per_s": round(1e6 / total["before"]),
        "in_process_after_lines_per_s": round(1e6 / total["after"]),
        "us_per_line": {k: {s: round(v, 3) for s, v in p.items()} for k, p in
                        (("before", prof["before"]), ("after", prof["after"]),
                         ("before_fields", prof_fields["before"]), ("after_fields", prof_fields["after"]))},
    }
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
