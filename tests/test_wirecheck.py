"""Internal-topic messages are checked field by field: garbage is a ValueError, never a crash later."""

from __future__ import annotations

import orjson
import pytest

from pipeline.correlate.skew_share import decode_samples, encode_samples
from pipeline.model import Exemplar, LogRecord, MetricPoint, Span
from pipeline.shuffle.route import (by_trace_messages, metric_messages, progress_message, read_by_trace, read_metrics,
                                    read_progress)
from pipeline.shuffle.wirecheck import WireError

T = 1_700_000_000 * 10**9
SPAN = Span("ab" * 16, "cd" * 8, "", "op", T, T + 5, attributes={"k": "v"},
            events=[{"time_ns": T, "name": "e", "attributes": {}}], kafka_ns=T)
LOG = LogRecord(T, "body", trace_id="ab" * 16, id="x", rules=["r"])
POINT = MetricPoint(name="cpu", type="gauge", time_ns=T, value=1.0, quantiles=[(0.5, 1.0)],
                    exemplars=[Exemplar(T, 2.0, "ab" * 16, "cd" * 8)], id="m")


def test_what_workers_write_reads_back_the_same():
    [(_, value)] = by_trace_messages([SPAN], [LOG], 1, {"otlp_spans/0": (T, False)})
    assert read_by_trace(value) == ([SPAN], [LOG], {"otlp_spans/0": (T, False)})
    assert read_metrics(metric_messages([POINT])[0]) == [POINT]
    assert read_progress(progress_message({"otlp_metrics/1": (None, True)})) == {"otlp_metrics/1": (None, True)}
    samples = {3: {("h1", "h2"): {11: -5}}}
    assert decode_samples(encode_samples(samples)) == samples


BAD_BY_TRACE = [b"[]", b"null", b'{"spans": {}}', b'{"spans": [{"trace_id": 5}]}',
                b'{"spans": [], "logs": [{"time_ns": "soon", "body": "x"}]}',
                b'{"spans": [], "logs": [], "progress": [1, 2]}',
                b'{"spans": [], "logs": [], "progress": {"a": ["x", true]}}',
                orjson.dumps({"spans": [{**orjson.loads(orjson.dumps(SPAN)), "end_ns": 1.5}]}),
                orjson.dumps({"spans": [{**orjson.loads(orjson.dumps(SPAN)), "events": [{"name": 1}]}]}),
                orjson.dumps({"spans": [{**orjson.loads(orjson.dumps(SPAN)), "surprise": 1}]}),
                orjson.dumps({"spans": [{**orjson.loads(orjson.dumps(SPAN)), "attributes": {"k": 1}}]})]


@pytest.mark.parametrize("value", BAD_BY_TRACE)
def test_garbage_on_the_by_trace_topic_is_a_value_error(value):
    with pytest.raises(ValueError):
        read_by_trace(value)


@pytest.mark.parametrize("value", [b"{}", b'[{"name": "cpu"}]', b'[{"name": "cpu", "type": "gauge", "time_ns": 1, "value": "hot"}]',
                                   b'[{"name": "c", "type": "g", "time_ns": 1, "value": 1.0, "exemplars": [{"time_ns": 1}]}]',
                                   b"\xff"])
def test_garbage_on_the_metrics_topic_is_a_value_error(value):
    with pytest.raises(ValueError):
        read_metrics(value)


@pytest.mark.parametrize("value", [b"{}", b"[[1, 2, 3]]", b'[[1, "a", "b", [[1, "x"]]]]', b'"skew"'])
def test_garbage_on_the_skew_topic_is_a_value_error(value):
    with pytest.raises(WireError):
        decode_samples(value)
