"""`telecorr match` on the columnar text path writes exactly what the record path wrote.

The reference below is the command's previous loop (one record per line, parse_logs, orjson
per line); the new one reads blocks, matches `TextColumns` and formats runs of lines in C.
Both run the same rule pack, which reads every field free text can yield, over the
simulator's log text (both profiles), nezha-ob log bodies and hand-made lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.commands.match import line_batches, match_lines, render
from pipeline.ingest.logs import parse_logs
from pipeline.ingest.logs.columns import TextColumns
from pipeline.model import LogRecord
from pipeline.query import RuleMatcher
from tests.match_corpus import FIELD_RULES, HAND_MADE, NEZHA, corpus, rule_pack, write_rules


def _reference(path: Path, matcher: RuleMatcher, fmt: str) -> bytes:
    """The record path: what `telecorr match` wrote before the columnar text path."""
    with open(path, "rb") as fh:
        lines = [raw.decode("utf-8", "replace").rstrip("\r\n") for raw in fh]
    out = []
    for i in range(0, len(lines), 8192):
        batch = [LogRecord(time_ns=0, body=line) for line in lines[i:i + 8192]]
        parse_logs(batch, fmt)
        for j, ids in enumerate(matcher.match_batch(batch)):
            out.append(orjson.dumps({"line": i + j + 1, "rules": ids}) + b"\n")
    return b"".join(out)


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return corpus(12_000)


@pytest.fixture(scope="module")
def matcher(lines) -> RuleMatcher:
    return RuleMatcher(rule_pack(lines, 400))


def test_corpus_is_varied(lines):
    assert len(lines) >= 12_000
    assert any(b"resourceLogs" not in x and b'{"log"' in x for x in lines) or not NEZHA.exists()
    assert sum(x in HAND_MADE for x in lines) >= len(HAND_MADE)


def test_text_output_identical_to_record_path(tmp_path, lines, matcher):
    path = tmp_path / "corpus.log"
    path.write_bytes(b"\n".join(lines) + b"\r\n" + b"no newline at the end ERROR")
    want = _reference(path, matcher, "text")
    got = b"".join(render(match_lines(matcher, batch, "text"), 1 + n)
                   for n, batch in _numbered(line_batches([str(path)], 1000)))
    assert got == want
    # Every field rule free text can satisfy really matched somewhere (service, host and
    # attributes other than the out-of-range time are never set on free text).
    hits = {rid for line in want.splitlines() for rid in orjson.loads(line)["rules"]}
    assert {r.id for r in FIELD_RULES} - {"f-svc", "f-attr"} <= hits
    assert not {"f-svc", "f-attr"} & hits


def _numbered(batches):
    n = 0
    for batch in batches:
        yield n, batch
        n += len(batch)


def test_columns_equal_parsed_records(lines):
    text = [x.decode("utf-8", "replace").rstrip("\r\n") for x in lines[:4000]]
    recs = [LogRecord(time_ns=0, body=t) for t in text]
    parse_logs(recs, "text")
    cols = TextColumns(text)
    assert cols.column("body") == [r.body for r in recs]
    assert cols.column("severity_text") == [r.severity_text for r in recs]
    assert cols.severity_numbers() == [r.severity_number for r in recs]
    assert cols.column("trace_id") == [r.trace_id for r in recs]
    assert cols.column("span_id") == [r.span_id for r in recs]
    key = "telecorr.time_out_of_range"
    assert cols.attribute(key) == [r.attributes.get(key, "") for r in recs]
    assert cols.has_attribute("x") == [False] * len(recs) == [bool(r.attributes.get("x")) for r in recs]


@pytest.mark.parametrize("fmt", ["text", "auto"])
def test_cli_matches_reference(tmp_path, lines, matcher, fmt):
    """The installed command end to end (other formats keep the record path)."""
    path = tmp_path / "c.log"
    path.write_bytes(b"\n".join(lines[:3000]) + b"\n")
    rules = write_rules(matcher.rules, tmp_path / "rules.yaml")
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "match", "--rules", str(rules),
                          "--format", fmt, "--stats", str(path)], capture_output=True, check=True)
    assert res.stdout == _reference(path, matcher, fmt)
    stats = orjson.loads(res.stderr.splitlines()[-1])
    assert stats["lines"] == 3000 and stats["lines_per_s"] > 0


def test_stdin_and_block_edges(tmp_path, matcher):
    """Lines longer than a read block, CR LF, and standard input."""
    big = b"x" * (3 << 20) + b" connection refused"
    data = b"a\r\n" + big + b"\n\n" + "é timeout".encode() + b"\r\r"
    path = tmp_path / "edge.log"
    path.write_bytes(data)
    rules = write_rules(matcher.rules, tmp_path / "rules.yaml")
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "match", "--rules", str(rules),
                          "--format", "text", "-"], input=data, capture_output=True, check=True)
    assert res.stdout == _reference(path, matcher, "text")
    assert len(res.stdout.splitlines()) == 4
