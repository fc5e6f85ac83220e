"""Level and trace-id detection over a batch (pipeline/ingest/logs/detect.py: one Hyperscan scan,
candidates confirmed by the same regexes) finds exactly what the per-line functions find."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.decode.timebounds import OUT_OF_RANGE_ATTR
from pipeline.ingest.logs import detect, parse_logs, severity
from pipeline.ingest.logs.columns import TextColumns
from pipeline.ingest.logs.formats import TEXT_LEVEL_RE
from pipeline.ingest.logs.textblock import buffer_of, scan_buffer
from pipeline.ingest.logs.traceids import extract_ids
from pipeline.model import LogRecord
from tests.match_corpus import HAND_MADE, corpus

_TOKENS = [
    "trace", "TRACE", "Trace", "traceparent", "x-b3-", "X-B3-", "TraceId", "trace_id", "trace-id",
    "trace.id", "traceID", "span", "SpanID", "span_id", "span-id", "id", "ID", ":", "=", " ", "  ",
    "\t", "\x1c", "\x0b", '"', "'", "-", "00-", "-01", "4bf92f3577b34da6a3ce929d0e0e4736",
    "0af7651916cd43dd8448eb211c80319c", "00000000000000000000000000000000", "0000000000000000",
    "00f067aa0ba902b7", "80F198EE56343BA8", "b7ad6b7169203331", "abc", "g", "Z9", "_",
    "ERROR", "ERR", "WARN", "WARNING", "INFO", "CRIT", "CRITICAL", "[warn]", "(error)", "<info>",
    "[", "]", "(", ")", "<", ">", "|", "é", "\u212a", "\x00", "x" * 70,
    "2999-01-01T00:00:00Z", "1969-12-31 23:59:59", "2024-03-01T10:00:00.5+02:00", "Mar  1 10:00:00",
    "01/Jan/2999:10:00:00 +0000", "12:34:56", "1:23:4", "x" * 30,
]


def _reference(lines: list[str]) -> tuple[list[int], list[tuple[str, str]]]:
    levels = []
    for line in lines:
        m = TEXT_LEVEL_RE.search(line, 0, 80)
        levels.append(severity.from_name(m.group(1) or m.group(2)) if m else 0)
    return levels, [extract_ids(line) for line in lines]


def _detected(lines: list[str]) -> tuple[list[int], list[tuple[str, str]]]:
    buf = buffer_of(lines)
    texts, numbers = detect.levels(buf, lines)
    assert texts == [severity.severity_name(n) for n in numbers]
    traces, spans = detect.trace_ids(buf, lines)
    return numbers, list(zip(traces, spans))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(_TOKENS), max_size=14).map("".join), min_size=1, max_size=12))
def test_same_as_per_line(lines):
    assert _detected(lines) == _reference(lines)
    # The out-of-range time attribute, parsed only where a clock stands early enough.
    recs = [LogRecord(time_ns=0, body=line) for line in lines]
    parse_logs(recs, "text")
    assert TextColumns(lines).attribute(OUT_OF_RANGE_ATTR) == [r.attributes.get(OUT_OF_RANGE_ATTR, "") for r in recs]


def test_same_on_the_corpus():
    raw = corpus(6000)
    lines = [x.decode("utf-8", "replace").rstrip("\r") for x in raw]
    got = _detected(lines)
    assert got == _reference(lines)
    # The corpus exercises each kind of finding.
    assert sum(1 for n in got[0] if n) > 100 and sum(1 for t, _ in got[1] if t) > 1000
    assert any(s for _, s in got[1])


def test_block_buffer_gives_the_same():
    """The raw block path (no decode per line) and hand-made corner cases."""
    block = b"\n".join(HAND_MADE)
    lines = [x.decode("utf-8", "replace").rstrip("\r") for x in HAND_MADE]
    buf = scan_buffer(block)
    assert detect.levels(buf, lines)[1] == _reference(lines)[0]
    assert list(zip(*detect.trace_ids(buf, lines))) == _reference(lines)[1]


def test_parse_logs_fields_unchanged(monkeypatch):
    """parse_logs reads ids named in message text for the whole batch at once; every stored
    field equals what reading them line by line with extract_ids gives (all formats, with
    producer-set ids and levels that must win)."""
    import dataclasses

    lines = [x.decode("utf-8", "replace").rstrip("\r") for x in corpus(4000)]

    def records() -> list[LogRecord]:
        out = []
        for i, line in enumerate(lines):
            r = LogRecord(time_ns=0, body=line, observed_ns=1_700_000_000_000_000_000 + i)
            if i % 7 == 0:
                r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
            elif i % 7 == 1:
                r.span_id = "00f067aa0ba902b7"
            out.append(r)
        return out

    def per_line(_buffer, messages):
        found = [extract_ids(m) for m in messages]
        return [t for t, _ in found], [s for _, s in found]

    for fmt in ("auto", "text", "json", "container"):
        got = records()
        parse_logs(got, fmt)
        with monkeypatch.context() as m:
            m.setattr(detect, "trace_ids", per_line)
            want = records()
            parse_logs(want, fmt)
        assert [dataclasses.asdict(r) for r in got] == [dataclasses.asdict(r) for r in want]
        assert sum(1 for r in got if r.trace_id and r.span_id) > 1000


def test_stamp_ending_at_the_limit():
    """A stamp ending exactly where parse_text stops reading one still counts."""
    lines = ["x" * 28 + "2999-01-01T00:00:00Z rest", "x" * 29 + "2999-01-01T00:00:00Z rest",
             "é" * 28 + "2999-01-01T00:00:00Z", "12:00:00"]
    recs = [LogRecord(time_ns=0, body=line) for line in lines]
    parse_logs(recs, "text")
    want = [r.attributes.get(OUT_OF_RANGE_ATTR, "") for r in recs]
    assert want[0] and not want[1] and want[2]
    assert TextColumns(lines).attribute(OUT_OF_RANGE_ATTR) == want
    assert TextColumns.from_block("\n".join(lines).encode()).attribute(OUT_OF_RANGE_ATTR) == want
