"""Metric points as columns (issue 19): decoded into a ColumnBatch, carried on telemetry.metrics
as v2 columns (v1 lists still read, bad columns refused with where), inserted from the batch's
lists and indexed by the join from them, each giving what the record path gives."""

from __future__ import annotations

import re

import orjson
import pytest

from pipeline.column_batch import ColumnBatch
from pipeline.correlate import CorrelateConfig
from pipeline.correlate.metric_index import MetricIndex
from pipeline.ingest.decode import decode_batch
from pipeline.model import Exemplar, MetricPoint, content_id
from pipeline.shuffle.route import metric_messages, read_metrics
from pipeline.shuffle.wirecheck import WireError
from pipeline.store.columnar import metric_columns
from tests.otlp_samples import metrics as sample_metrics

T = 1_700_000_000 * 10**9
POINTS = [
    MetricPoint("cpu", "gauge", T, 0.5, service="cart", host="h1", attributes={"core": "0"}, id="a"),
    MetricPoint("lat", "histogram", T + 1, 8.0, service="cart", host="h1", count=4, sum=8.0, min=1.0, max=None,
                bucket_bounds=[1.0, 5.0], bucket_counts=[1, 2, 1], resource={"host.name": "h1"},
                exemplars=[Exemplar(T, 3.0, "ab" * 16, "cd" * 8)], id="b"),
    MetricPoint("lat.exp", "exp_histogram", T + 2, 2.0, count=3, sum=2.0, exp_scale=-2, exp_zero_count=1,
                exp_positive_offset=-1, exp_positive_counts=[1, 1], exp_negative_counts=[0], id="c"),
    MetricPoint("lat.summary", "summary", T + 3, 8.0, count=4, sum=8.0, quantiles=[(0.5, 2.0), (0.99, 3.5)],
                is_monotonic=True, temporality=2, id="d"),
]


def test_decoders_fill_columns_that_read_as_the_points():
    pb, js, _ = sample_metrics(1)
    for value in (pb, js):
        res = decode_batch("otlp_metrics", [value], [T])
        assert type(res.metrics) is ColumnBatch and res.metrics.cls is MetricPoint
        assert not res.errors and len(res.metrics) == 5
        assert {p.type for p in res.metrics} == {"gauge", "sum", "histogram", "exp_histogram", "summary"}
    assert decode_batch("otlp_metrics", [pb], [T]).metrics == decode_batch("otlp_metrics", [js], [T]).metrics


def test_v2_message_reads_back_every_field():
    values = metric_messages(ColumnBatch.of(MetricPoint, POINTS))
    assert len(values) == 1 and orjson.loads(values[0])["v"] == 2
    back = read_metrics(values[0])
    assert type(back) is ColumnBatch and back == POINTS
    assert back[1].exemplars == [Exemplar(T, 3.0, "ab" * 16, "cd" * 8)] and back[3].quantiles[0] == (0.5, 2.0)


def test_v1_list_of_points_is_still_read():
    assert read_metrics(orjson.dumps(POINTS)) == POINTS


def test_a_batch_split_to_fit_reads_back_whole():
    many = ColumnBatch.of(MetricPoint, [MetricPoint(f"m{i}", "gauge", T + i, float(i)) for i in range(300)])
    values = metric_messages(many, limit=4096)
    assert len(values) > 1 and all(len(v) <= 4096 for v in values)
    assert [p for v in values for p in read_metrics(v)] == list(many)


def _spoiled(field: str, value) -> bytes:
    cols = ColumnBatch.of(MetricPoint, POINTS).cols
    cols[field] = list(cols[field])
    cols[field][1] = value
    return orjson.dumps({"v": 2, "points": cols})


@pytest.mark.parametrize("field, value, where", [
    ("value", "8", "points.value[1]"), ("time_ns", 1.5, "points.time_ns[1]"), ("min", "x", "points.min[1]"),
    ("bucket_counts", [1, "2"], "points.bucket_counts[1]"), ("bucket_bounds", [None], "points.bucket_bounds[1]"),
    ("quantiles", [[0.5]], "points.quantiles[1]"), ("is_monotonic", 1, "points.is_monotonic[1]"),
    ("exemplars", [{"time_ns": "x", "value": 1.0}], "points.exemplars[1][0]"),
    ("count", 1.0, "points.count[1]"),
])
def test_a_wrong_type_in_a_column_is_refused_with_where(field, value, where):
    with pytest.raises(WireError, match="^" + re.escape(where)):
        read_metrics(_spoiled(field, value))


@pytest.mark.parametrize("doc", [{"v": 3, "points": {}}, {"v": 2, "points": {}, "extra": 1}, {"v": "2"}, 7,
                                 {"v": 2, "points": {"name": ["a"]}}])
def test_not_a_metrics_message(doc):
    with pytest.raises(WireError):
        read_metrics(orjson.dumps(doc))


def test_ragged_columns_are_refused():
    cols = ColumnBatch.of(MetricPoint, POINTS).cols
    cols["unit"] = cols["unit"][:2]
    with pytest.raises(WireError, match="points.unit: 2 values where the other columns have 4"):
        read_metrics(orjson.dumps({"v": 2, "points": cols}))


def test_insert_columns_from_the_batch_equal_the_record_path():
    assert metric_columns(ColumnBatch.of(MetricPoint, POINTS)) == metric_columns(POINTS)
    plain = [p for p in POINTS if not p.exemplars]
    assert metric_columns(ColumnBatch.of(MetricPoint, plain)) == metric_columns(plain)


def test_metric_index_reads_columns_as_it_reads_records():
    cfg = CorrelateConfig()
    from_cols, from_list = MetricIndex(cfg), MetricIndex(cfg)
    from_cols.add(ColumnBatch.of(MetricPoint, POINTS))
    from_list.add(POINTS)
    series = from_cols.series_for("cart", "", "h1")
    assert [s.label for s in series] == ["cpu{core=0}", "lat"]
    assert from_cols.readings(series, T, T + 1, {}) == from_list.readings(from_list.series_for("cart", "", "h1"),
                                                                          T, T + 1, {})
    assert from_cols.exemplars("ab" * 16) == [("cd" * 8, "lat", 3.0)]


def test_point_ids_are_content_ids_of_the_point():
    pb, _, _ = sample_metrics(3, service="it's", host="h\x1f\u00e9")
    events = orjson.dumps({"signal": "metric", "name": "q'\"", "type": "gauge", "time": T, "value": 1,
                           "start_time": T - 5, "attributes": {"b": "2", "a": "\u2603"}, "service": "s"})
    points = list(decode_batch("otlp_metrics", [pb], [T]).metrics) + list(decode_batch("events", [events], [T]).metrics)
    assert len(points) == 6
    for p in points:
        assert p.id == content_id(p.name, p.type, p.service, p.instance, p.host, tuple(sorted(p.attributes.items())),
                                  tuple(sorted(p.resource.items())), p.start_time_ns, p.time_ns)


def test_the_one_oversized_point_among_many_is_cut_and_the_rest_kept_whole():
    lines = [orjson.dumps({"signal": "metric", "name": f"m{i}", "type": "gauge", "time": T + i, "value": i,
                           "attributes": {"k": "v" * (40_000 if i == 7 else 10)}}) for i in range(60)]
    res = decode_batch("events", [b"\n".join(lines)], [T])
    assert not res.errors and len(res.metrics) == 60
    cut = [p for p in res.metrics if "telecorr.truncated" in p.attributes]
    assert [p.name for p in cut] == ["m7"] and len(cut[0].attributes["k"]) < 40_000
    assert all(p.attributes == {"k": "v" * 10} for p in res.metrics if p.name != "m7")
