"""client_insert's two encodings (JSONCompactColumns through the Null-engine twins where exact,
Native otherwise) store the same rows, value for value."""

from __future__ import annotations

import math
import random
import struct

import pytest

from pipeline.config import Settings
from pipeline.model import CorrelatedSpan, Exemplar, LogRecord, MetricPoint, Span
from pipeline.store import columnar as rows, tables
from pipeline.store.failures import is_permanent
from pipeline.store.migrate import migrate
from pipeline.store.writer import TABLES, client_insert

_SELECT = ("SELECT id, time_ns, body, attributes, resource, rules, parse_failed, severity_text "
           "FROM {} ORDER BY id")


def _logs() -> list[LogRecord]:
    bodies = ['quote " backslash \\ tab \t newline \n', "unicode é 漢字 🚀", "", "\x00\x1f control"]
    return [LogRecord(time_ns=1_700_000_000_000_000_000 + i, body=b, severity_text="WARN", trace_id="ab" * 16,
                      service="cart", attributes={"k": b, "n": str(i)} if i % 2 else {},
                      resource={"service.name": "cart"}, parse_failed=bool(i % 2),
                      rules=["r1", "r2"][: i % 3], id=f"{i:032x}")
            for i, b in enumerate(bodies)]


def test_json_and_native_inserts_store_identical_rows(ch_client):
    migrate(ch_client, Settings())
    ch_client.command("CREATE TABLE logs_native AS logs")
    logs = _logs()
    cols = rows.log_columns(logs)
    client_insert(ch_client)("logs", cols, rows.LOG_COLUMNS)  # JSON path
    ch_client.insert("logs_native", cols, column_names=list(rows.LOG_COLUMNS), column_oriented=True)
    stored = ch_client.query(_SELECT.format("logs")).result_rows
    assert len(stored) == len(logs)
    assert stored == ch_client.query(_SELECT.format("logs_native")).result_rows
    assert [r[2] for r in stored] == [r.body for r in logs]


def test_rows_neither_encoding_can_carry_raise_instead_of_vanishing(ch_client):
    migrate(ch_client, Settings())
    logs = _logs()
    logs[0].body = "lone surrogate \ud800 here"  # not UTF-8: orjson and the Native encoder both refuse it
    with pytest.raises(UnicodeEncodeError):
        client_insert(ch_client)("logs", rows.log_columns(logs), rows.LOG_COLUMNS)
    assert ch_client.query("SELECT count() FROM logs").result_rows == [(0,)]



def test_a_record_repeated_inside_one_insert_reads_once_on_either_path(ch_client):
    # Inserts skip the per-block merge (optimize_on_insert=0): FINAL must still collapse repeats.
    migrate(ch_client, Settings())
    insert = client_insert(ch_client)
    insert("logs", rows.log_columns(_logs() + _logs()), rows.LOG_COLUMNS)  # JSON path
    points = [MetricPoint(name="cpu", type="gauge", time_ns=1_700_000_000_000_000_000 + i, value=float(i),
                          service="cart", id=f"{i:032x}") for i in range(3)]
    insert("metrics", rows.metric_columns(points + points), rows.METRIC_COLUMNS)  # JSON, through the twin
    assert ch_client.query("SELECT count() FROM logs FINAL").result_rows == [(len(_logs()),)]
    assert ch_client.query("SELECT count() FROM metrics FINAL").result_rows == [(len(points),)]


T0 = 1_700_000_000_000_000_000
# Text JSON must carry exactly: escapes, control characters, non-ASCII (also in map keys), empty
# strings and one value far beyond a typical row.
_TEXTS = ['quote " backslash \\ tab \t newline \n', "unicode é 漢字 🚀", "", "\x00\x1f control", "x" * 1_000_000,
          "null", "[1, {\"a\": null}]"]


def _spans() -> list[Span]:
    return [Span(trace_id=f"{i:032x}", span_id=f"{i:016x}", parent_span_id="" if i % 3 else f"{i + 1:016x}",
                 name=t[:200], start_ns=T0 + i, end_ns=T0 + i + 2**40, kind=i % 6, status_code=i % 3,
                 status_message=t, service=f"svc-{i % 2} é", instance=t[:50], host="",
                 attributes={t[:30] or "k": t, "n": str(i)} if i % 2 else {}, resource={"service.name": "cart"},
                 events=[{"name": "exception", "attrs": {"m": t[:40]}}] if i % 2 else [])
            for i, t in enumerate(_TEXTS)]


_NULL_FREE = [t for t in _TEXTS if "null" not in t]


def _correlated(metric_values: list[float], texts: list[str] = _NULL_FREE) -> list[CorrelatedSpan]:
    out = []
    for i, v in enumerate(metric_values):
        t = texts[i % len(texts)]
        out.append(CorrelatedSpan(
            trace_id=f"{i:032x}", span_id=f"{i:016x}", parent_span_id="", name=t[:100], service="cart é",
            instance=t[:20], host="h", kind=2, start_ns=-5 + i, end_ns=2**63 - 1, orig_start_ns=T0 + i,
            orig_end_ns=T0 + i + 9, clock_offset_ns=-(2**62), duration_ns=9, self_time_ns=0, status_message=t,
            is_error=bool(i % 2), error_sources=["log", t[:10]] if i % 2 else [], log_count=2**32 - 1,
            log_severity_counts={"error": 3, t[:8] or "info": 1}, rule_ids=["r1", "ünï"][: i % 3],
            error_logs=[{"body": t[:100]}] if i % 3 else [], log_ids=[f"{i:032x}"] * (i % 4),
            metrics={"cpu": v, "mem é": -v}, metric_z={"cpu": v / 3}, version=2**64 - 1 - i,
            trace_complete_ns=T0, peer=t[:5], service_version="1.2", own_error=bool(i % 3)))
    return out


def _metrics(values: list[float], low: float | None = 0.5) -> list[MetricPoint]:
    """Every metric type's fields: gauges without min/max (NULL), histograms, summaries, exemplars."""
    out = []
    for i, v in enumerate(values):
        kind = ("gauge", "sum", "histogram", "exponential_histogram", "summary")[i % 5]
        out.append(MetricPoint(
            name=f"m.{kind} é", type=kind, time_ns=T0 + i, value=v, start_time_ns=T0 - 1, unit="ms",
            service="cart", instance="null", host="", attributes={"le": "null"} if i % 2 else {},
            resource={"service.name": "cart"}, is_monotonic=bool(i % 2), temporality=i % 3, count=2**64 - 1 - i,
            sum=-v, min=None if kind in ("gauge", "sum") else low, max=None if kind in ("gauge", "sum") else v,
            bucket_bounds=[0.1, v] if kind == "histogram" else [], bucket_counts=[1, 2, 3] if kind == "histogram" else [],
            exp_scale=-3, exp_zero_count=i, exp_positive_offset=-2, exp_positive_counts=[i, 1],
            quantiles=[(0.5, v), (0.99, 1e300)] if kind == "summary" else [],
            exemplars=[Exemplar(time_ns=T0, value=v, trace_id=f"{i:032x}", span_id="")] if i % 3 == 0 else [],
            id=f"{i:032x}"))
    return out


def _doubles(n: int) -> list[float]:
    rnd = random.Random(11)
    raw = [struct.unpack("d", rnd.randbytes(8))[0] for _ in range(4 * n)]
    return ([v for v in raw if math.isfinite(v)][:n] + [5e-324, -0.0, 0.1, 1 / 3, 1.7976931348623157e308])


def _bits(value):
    """Rows compared value for value: floats by their bits (NaN equals NaN, -0.0 differs from 0.0)."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, (list, tuple)):
        return [_bits(v) for v in value]
    if isinstance(value, dict):
        return sorted((_bits(k), _bits(v)) for k, v in value.items())
    return value


class _Recorder:
    """The client, noting which encoding each insert took and where it went."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []
        self.server_settings = client.server_settings

    def raw_insert(self, table, *args, **kwargs):
        self.calls.append(("json", table))
        return self.client.raw_insert(table, *args, **kwargs)

    def insert(self, table, *args, **kwargs):
        self.calls.append(("native", table))
        return self.client.insert(table, *args, **kwargs)


def _stored(client, table: str) -> list:
    names = ", ".join(tables.written(table.removesuffix("_native")))
    return [_bits(r) for r in client.query(f"SELECT {names} FROM {table} ORDER BY id").result_rows]


@pytest.mark.parametrize("table, records, path", [
    ("spans", _spans, [("json", "spans_input")]),
    ("logs", _logs, [("json", "logs_input")]),
    ("correlated_spans", lambda: _correlated(_doubles(300)), [("json", "correlated_spans_input")]),
    # NaN and infinities have no JSON form: that batch goes Native, whole.
    ("correlated_spans", lambda: _correlated([1.5, math.nan, math.inf, -math.inf]), [("native", "correlated_spans")]),
    ("metrics", lambda: _metrics(_doubles(100)), [("json", "metrics_input")]),
    ("metrics", lambda: _metrics([1.0, math.nan, 2.0]), [("native", "metrics")]),
    ("metrics", lambda: _metrics([1.0, 2.0, 3.0], low=-math.inf), [("native", "metrics")]),  # in a Nullable column
    # Text reading "null" (a log excerpt, a status message) is not a NaN: still JSON.
    ("correlated_spans", lambda: _correlated(_doubles(10), _TEXTS), [("json", "correlated_spans_input")]),
])
def test_the_twin_path_stores_what_native_stores(ch_client, table, records, path):
    migrate(ch_client, Settings())
    ch_client.command(f"CREATE TABLE {table}_native AS {table}")
    names, to_columns = TABLES[table]
    cols = to_columns(records())
    recorder = _Recorder(ch_client)
    client_insert(recorder)(table, cols, names)
    assert recorder.calls == path
    ch_client.insert(f"{table}_native", cols, column_names=list(names), column_oriented=True)
    stored = _stored(ch_client, table)
    assert len(stored) == len(cols[0])
    assert stored == _stored(ch_client, f"{table}_native")


def test_the_twin_feeds_the_views_of_its_table(ch_client):
    migrate(ch_client, Settings())
    client_insert(ch_client)("spans", rows.span_columns(_spans()), rows.SPAN_COLUMNS)
    q = ch_client.query
    assert q("SELECT count() FROM trace_docs FINAL WHERE kind = 'span'").result_rows == [(len(_TEXTS),)]
    assert q("SELECT count() FROM trace_index").result_rows == [(len(_TEXTS),)]
    assert q("SELECT count() FROM spans_input").result_rows == [(0,)]  # Null engine: nothing kept twice


def test_a_failure_past_the_twin_is_classified_as_before(ch_client):
    # Too many partitions is raised by the view's write into spans; the Native retry raises it
    # again, and it is still the permanent kind the writer splits on.
    migrate(ch_client, Settings())
    spans = [s for _ in range(20) for s in _spans()]  # 140 rows, one day apart
    for i, s in enumerate(spans):
        s.span_id, s.start_ns = f"{i:016x}", T0 + i * 86_400 * 10**9
    recorder = _Recorder(ch_client)
    with pytest.raises(Exception) as err:
        client_insert(recorder)("spans", rows.span_columns(spans), rows.SPAN_COLUMNS)
    assert is_permanent(err.value) and "partitions" in str(err.value).lower()
    assert recorder.calls == [("json", "spans_input"), ("native", "spans")]
    assert ch_client.query("SELECT count() FROM spans").result_rows == [(0,)]


@pytest.mark.parametrize("table, records, tweak", [
    ("metrics", lambda: _metrics([1.0])[:1], lambda r: setattr(r, "exp_positive_offset", 2**40)),  # Int32
    ("metrics", lambda: _metrics([1.0])[:1], lambda r: setattr(r, "exp_positive_counts", [1, -1])),  # Array(UInt64)
    ("spans", lambda: _spans()[:1], lambda r: setattr(r, "kind", 300)),  # UInt8
    ("spans", lambda: _spans()[:1], lambda r: setattr(r, "start_ns", 2**63)),  # Int64
])
def test_an_integer_beyond_its_column_is_refused_not_wrapped(ch_client, table, records, tweak):
    # As JSON, ClickHouse stores 2^40 in an Int32 as 0 and 300 in a UInt8 as 44; the writer
    # must not send such a value that way, so the Native insert refuses it for good and the
    # writer's halving dead-letters the record (tests/test_poison.py, "value beyond its column").
    migrate(ch_client, Settings())
    recs = records()
    tweak(recs[0])
    names, build = TABLES[table]
    recorder = _Recorder(ch_client)
    with pytest.raises(Exception) as err:
        client_insert(recorder)(table, build(recs), names)
    assert is_permanent(err.value)
    assert recorder.calls == [("native", table)]
    assert ch_client.query(f"SELECT count() FROM {table}").result_rows == [(0,)]
