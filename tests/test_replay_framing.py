"""Input framing: whole OTLP/JSON documents (pretty-printed or not), JSON lines and gzip, for
`telecorr replay` files and for messages on the otlp_* topics."""

from __future__ import annotations

import gzip

import orjson
import pytest

from pipeline.commands.replay import SIGNAL_TOPIC, guess_format, replay_messages
from pipeline.ingest.decode import decode_batch
from tests.otlp_documents import EXAMPLES, LOGS, TRACES, pretty

TS = 1_700_000_000_000_000_000


def _decode(topic: str, values: list[bytes]):
    return decode_batch(topic, values, [TS] * len(values))


@pytest.mark.parametrize("signal", sorted(EXAMPLES))
def test_a_pretty_printed_example_file_replays_to_exactly_its_records(tmp_path, signal):
    doc, records = EXAMPLES[signal]
    path = tmp_path / f"{signal}.json"
    path.write_bytes(pretty(doc))
    assert guess_format(str(path), path.read_bytes()) == "otlp-json"
    counts: dict[str, int] = {}
    msgs = list(replay_messages([str(path)], None, None, counts))  # --format auto
    assert [m[0] for m in msgs] == [SIGNAL_TOPIC[signal]] and counts == {f"{signal} requests": 1}
    res = _decode(msgs[0][0], [msgs[0][2]])
    assert not res.errors
    assert len(res.spans) + len(res.logs) + len(res.metrics) == records
    # the same records as the compact form of the same request
    compact = _decode(msgs[0][0], [orjson.dumps(doc)])
    assert (res.spans, res.logs, res.metrics) == (compact.spans, compact.logs, compact.metrics)


def test_forced_otlp_json_format_and_signal_take_a_pretty_document_whole(tmp_path):
    path = tmp_path / "trace.json"
    path.write_bytes(pretty(TRACES))
    msgs = list(replay_messages([str(path)], "otlp-json", "traces", {}))
    assert len(msgs) == 1 and _decode("otlp_spans", [msgs[0][2]]).spans[0].trace_id == "7a3b9f00c1d2e3f405162738495a6b7c"


def test_json_lines_gzip_and_back_to_back_documents_replay_per_request(tmp_path):
    lines = tmp_path / "export.jsonl.gz"
    lines.write_bytes(gzip.compress(orjson.dumps(TRACES) + b"\n" + orjson.dumps(LOGS) + b"\n"))
    both = tmp_path / "two.json"
    both.write_bytes(pretty(TRACES) + pretty(LOGS))
    counts: dict[str, int] = {}
    msgs = list(replay_messages([str(lines), str(both)], None, None, counts))
    assert [m[0] for m in msgs] == ["otlp_spans", "otlp_logs"] * 2
    assert counts == {"traces requests": 2, "logs requests": 2}


def test_a_message_may_be_pretty_printed_json_lines_or_gzip():
    one = pretty(TRACES)
    two = orjson.dumps(TRACES).replace(b"1F2E3D4C5B6A7988", b"1F2E3D4C5B6A7989")
    res = _decode("otlp_spans", [one, one + two, gzip.compress(one), pretty(TRACES) + pretty(TRACES)])
    assert not res.errors
    assert len(res.spans) == 1 + 2 + 1 + 2


def test_broken_framing_is_one_clear_error_per_message():
    res = _decode("otlp_spans", [pretty(TRACES)[:-40], gzip.compress(b"x" * 100)[:-8], orjson.dumps(TRACES)])
    assert [e.index for e in res.errors] == [0, 1] and len(res.spans) == 1
    assert "invalid JSON" in res.errors[0].reason and "gzip" in res.errors[1].reason


def test_a_gzip_bomb_is_refused_not_expanded():
    from pipeline.ingest.decode import Limits

    bomb = gzip.compress(b"\n" * (64 * 1024 * 1024))
    res = decode_batch("raw_logs", [bomb], [TS], Limits(batch_bytes=1024 * 1024))
    assert len(res.errors) == 1 and "expands past" in res.errors[0].reason and not res.logs


def test_a_request_too_big_for_one_message_is_split_by_resource_or_refused_clearly(tmp_path):
    from pipeline.commands.replay import ReplayError

    resource = TRACES["resourceSpans"][0]
    big = {"resourceSpans": [{**resource, "resource": {"attributes": [
        {"key": "pad", "value": {"stringValue": "p" * 1_500_000}}]}}] * 4}
    path = tmp_path / "big.json"
    path.write_bytes(pretty(big))
    msgs = list(replay_messages([str(path)], None, None, {}))
    assert len(msgs) == 4 and all(len(m[2]) < 2_000_000 for m in msgs)
    one = {"resourceSpans": [{**resource, "resource": {"attributes": [
        {"key": "pad", "value": {"stringValue": "p" * 9_000_000}}]}}]}
    path.write_bytes(orjson.dumps(one))
    with pytest.raises(ReplayError, match="more than one Kafka message takes"):
        list(replay_messages([str(path)], None, None, {}))
