"""Kafka → worker → ClickHouse against the real local broker and real chDB (issue 2's proof)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaConsumer

from pipeline.config import Settings, read_topics
from pipeline.kafka.io import publish
from pipeline.shuffle.route import trace_partition
from tests import otlp_samples as S
from tests.workerproc import StderrFollower, events, run_worker, sql, start_worker, worker_env

pytestmark = pytest.mark.integration


def test_otlp_round_trip_all_signals_both_encodings(broker, topic_prefix, tmp_path):
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    msgs, want_spans, want_logs, want_metrics = [], [], [], []
    for seed, enc in ((1, 0), (2, 1)):  # 0: protobuf, 1: OTLP/JSON
        t, lg, m = S.traces(seed, 12), S.logs(seed, 7), S.metrics(seed, service=f"svc{seed}")
        msgs += [("otlp_spans", None, t[enc]), ("otlp_logs", None, lg[enc]), ("otlp_metrics", None, m[enc])]
        want_spans += t[2]
        want_logs += lg[2]
        want_metrics += m[2]
    publish(settings, msgs)
    rc, err = run_worker(worker_env(broker, topic_prefix, tmp_path / "ch"))
    assert rc == 0, err[-3000:]

    spans = {r["span_id"]: r for r in sql(tmp_path / "ch", "SELECT * FROM spans FINAL")}
    assert len(spans) == len(want_spans)
    for w in want_spans:
        got = spans[w["span_id"]]
        for key in ("trace_id", "parent_span_id", "service", "host", "instance", "start_ns", "end_ns",
                    "status_code", "kind"):
            assert got[key] == w[key], (key, got, w)
        assert got["attributes"]["http.route"] == w["http.route"]
        assert got["attributes"]["http.status_code"] == w["http.status_code"]

    logs = sql(tmp_path / "ch", "SELECT * FROM logs FINAL ORDER BY time_ns")
    assert len(logs) == len(want_logs)
    by_key = {(r["trace_id"], r["span_id"], r["time_ns"]): r for r in logs}
    for w in want_logs:
        got = by_key[(w["trace_id"], w["span_id"], w["time_ns"])]
        assert (got["body"], got["service"], got["host"], got["severity_number"]) == \
            (w["body"], w["service"], w["host"], w["severity_number"])
        assert got["attributes"]["n"] == w["n"]

    points = sql(tmp_path / "ch", "SELECT * FROM metrics FINAL")
    assert len(points) == len(want_metrics)
    by_name = {(p["service"], p["name"]): p for p in points}
    for w in want_metrics:
        got = by_name[(w["service"], w["name"])]
        for key, value in w.items():
            assert got[key] == value, (key, got[key], value)

    trace = sql(tmp_path / "ch", f"SELECT min(start_ns) s, max(end_ns) e FROM trace_index "
                                  f"WHERE trace_id = '{want_spans[0]['trace_id']}'")
    assert trace[0]["s"] == min(w["start_ns"] for w in want_spans[:12])


def _malformed() -> list[tuple[str, bytes, str]]:
    """(logical topic, bytes, what is wrong) — twenty kinds of bad input."""
    good_t, good_tj, _ = S.traces(9, 3)
    good_l, good_lj, _ = S.logs(9, 3)
    return [
        ("otlp_spans", good_t[: len(good_t) // 2], "truncated protobuf"),
        ("otlp_spans", b"", "empty message"),
        ("otlp_spans", b"{not json", "bad JSON"),
        ("otlp_spans", b"\xff\xfe\xfd\xfc\xfb" * 10, "garbage bytes"),
        ("otlp_spans", b'{"resourceSpans": 5}', "wrong type for resourceSpans"),
        ("otlp_spans", b"[1, 2, 3]", "top level is a list"),
        ("otlp_spans", good_tj.replace(b'"traceId":"', b'"traceId":"zz', 1), "non-hex trace id"),
        ("otlp_spans", good_tj.replace(b'"spanId":"', b'"spanId":"ab', 1), "span id of wrong length"),
        ("otlp_spans", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + b"0" * 32
         + b'","spanId":"0102030405060708","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}',
         "all-zero trace id"),
        ("otlp_spans", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"AAECAwQFBgcICQoLDA0ODw==",'
         b'"spanId":"AAECAwQFBgc=","name":"x"}]}]}]}', "base64 ids instead of hex"),
        ("otlp_spans", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + b"ab" * 16
         + b'","spanId":"0102030405060708","startTimeUnixNano":"soon"}]}]}]}', "time is not a number"),
        ("otlp_logs", b'{"resourceLogs": "x"}', "wrong type for resourceLogs"),
        ("otlp_logs", good_l[:7], "truncated log protobuf"),
        ("otlp_logs", b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\xc3\x28"}}]}]}]}',
         "invalid UTF-8"),
        ("otlp_metrics", b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":'
         b'[{"timeUnixNano":"1","asDouble":"NaNx"}]}}]}]}]}', "metric value is not a number"),
        ("otlp_metrics", b"\x0a\xff\xff\xff\xff\x0f", "length prefix past the end"),
        ("telemetry.events", b'{"signal": "span"}', "flat span without ids"),
        ("telemetry.events", b'{"signal": "teapot", "x": 1}', "unknown signal"),
        ("telemetry.events", b'"just a string"', "not an object"),
        ("telemetry.events", b'{"signal": "log", "time": [], "body": "x"}', "log time of wrong type"),
    ]


def test_malformed_input_goes_to_dlq_and_good_input_is_stored(broker, topic_prefix, tmp_path):
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    bad = _malformed()
    good_t, _, want_t = S.traces(5, 10)
    _, good_lj, want_l = S.logs(5, 4)
    huge = S.logs(6, 1)[1].replace(b"seed 6 request 0 handled", b"y" * 2_000_000)
    msgs = [(topic, None, value) for topic, value, _ in bad]
    msgs[3:3] = [("otlp_spans", None, good_t)]
    msgs[12:12] = [("otlp_logs", None, good_lj), ("otlp_logs", None, huge)]
    msgs.append(("telemetry.raw_logs", None, b"\xff\xfe plain text with bad bytes\nsecond line ok"))
    publish(settings, msgs)
    rc, err = run_worker(worker_env(broker, topic_prefix, tmp_path / "ch"))
    assert rc == 0, err[-3000:]
    assert "Traceback" not in err

    dlq = sql(tmp_path / "ch", "SELECT topic, partition, offset, reason FROM dlq FINAL ORDER BY topic, partition, offset")
    assert len(dlq) >= len(bad), (len(dlq), dlq)
    assert all(r["reason"] for r in dlq)
    # Every bad message is there: one DLQ row per source position at least.
    assert len({(r["topic"], r["partition"], r["offset"]) for r in dlq}) == len(bad)

    async def read_dlq_topic() -> list:
        cons = AIOKafkaConsumer(topic_prefix + "telemetry.dlq", bootstrap_servers=broker,
                                auto_offset_reset="earliest", group_id=None)
        await cons.start()
        try:
            got = []
            deadline = time.monotonic() + 20
            while len(got) < len(dlq) and time.monotonic() < deadline:
                for recs in (await cons.getmany(timeout_ms=1000)).values():
                    got += recs
            return got
        finally:
            await cons.stop()

    records = asyncio.run(read_dlq_topic())
    assert len(records) == len(dlq)
    for rec in records:
        headers = dict(rec.headers)
        assert headers["telecorr.reason"] and headers["telecorr.source.topic"].startswith(topic_prefix.encode())
    originals = {rec.value for rec in records}
    assert all(value in originals for _, value, _ in bad)

    spans = sql(tmp_path / "ch", "SELECT trace_id, count() c FROM spans FINAL GROUP BY trace_id")
    per_trace = {r["trace_id"]: r["c"] for r in spans}
    assert per_trace[want_t[0]["trace_id"]] == len(want_t)
    # The good spans that shared a message with a bad one (seed 9: spans 2 and 3) are kept too.
    assert per_trace[S.ids(9, 0)[0]] == 2
    logs = sql(tmp_path / "ch", "SELECT body, attributes FROM logs FINAL")
    bodies = [r["body"] for r in logs]
    assert sum(1 for b in bodies if b.startswith("seed 5 request")) == len(want_l)
    big = [b for b in bodies if b.startswith("yyyy")]
    assert len(big) == 1 and "truncated" in big[0] and len(big[0]) < 300_000
    assert any("second line ok" in b for b in bodies)
    # A raw line with invalid UTF-8 is kept (replacement characters) and flagged, not dropped.
    flagged = [r for r in logs if r["attributes"].get("telecorr.invalid_utf8") == "true"]
    assert len(flagged) == 1 and "plain text with bad bytes" in flagged[0]["body"]


def test_unreadable_by_trace_message_goes_to_dlq_and_correlation_goes_on(broker, topic_prefix, tmp_path):
    # The internal topic is written by workers only, but a foreign producer or a bug must not
    # stop the correlation agent: the message goes to the DLQ, the good traces still correlate.
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    spans_pb, _, want = S.traces(3, 6)
    publish(settings, [("telemetry.by_trace", None, b"{not json"), ("telemetry.by_trace", None, b'{"spans": 5}'),
                       ("otlp_spans", None, spans_pb)])
    rc, err = run_worker(worker_env(broker, topic_prefix, tmp_path / "ch"))
    assert rc == 0, err[-3000:]
    assert "Traceback" not in err and "Crashed" not in err
    dlq = sql(tmp_path / "ch", "SELECT topic, reason FROM dlq FINAL ORDER BY offset")
    assert [r["topic"] for r in dlq] == [topic_prefix + "telemetry.by_trace"] * 2
    assert all(r["reason"].startswith("unreadable by-trace message") for r in dlq), dlq
    rows = sql(tmp_path / "ch", "SELECT count() c FROM correlated_spans FINAL")
    assert rows[0]["c"] == len(want)


def test_sigkill_mid_stream_then_restart_stores_every_record_once(broker, topic_prefix, tmp_path):
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    n_msgs, per_msg = 400, 500  # 200k spans
    publish(settings, (("otlp_spans", None, S.traces(1000 + i, per_msg)[0]) for i in range(n_msgs)))
    env = worker_env(broker, topic_prefix, tmp_path / "ch", TELECORR_SINK_BATCH_ROWS="5000",
                     TELECORR_CONSUME_BATCH="10")
    proc = start_worker(env, idle_s=3)
    follower = StderrFollower(proc)
    stored_at_kill = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        progress = [e for e in follower.events() if e["event"] == "progress"]
        if progress and 0 < progress[-1]["stored"].get("spans", 0):
            stored_at_kill = progress[-1]["stored"]["spans"]
            break
        time.sleep(0.2)
    assert 0 < stored_at_kill < n_msgs * per_msg, ("the kill must land mid-stream", "".join(follower.lines)[-3000:])
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    rc, err = run_worker(env, idle_s=3)
    assert rc == 0, err[-3000:]
    counts = sql(tmp_path / "ch", "SELECT count() c, uniqExact(id) u FROM spans FINAL")[0]
    assert counts == {"c": n_msgs * per_msg, "u": n_msgs * per_msg}


def test_store_outage_pauses_consumption_and_loses_nothing(broker, topic_prefix, tmp_path):
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    publish(settings, (("otlp_spans", None, S.traces(3000 + i, 100)[0]) for i in range(50)))
    env = worker_env(broker, topic_prefix, tmp_path / "ch", TELECORR_TEST_STORE_OUTAGE_S="30",
                     TELECORR_SINK_RETRY_MAX_S="2")
    started = time.monotonic()
    rc, err = run_worker(env, idle_s=3, timeout=240)
    assert rc == 0, err[-3000:]
    assert time.monotonic() - started >= 30
    progress = [e for e in events(err) if e["event"] == "progress"]
    assert any(e["store_failures"] > 0 and e["stored"]["spans"] == 0 for e in progress), \
        "during the outage nothing is stored and the writer keeps retrying"
    assert sql(tmp_path / "ch", "SELECT count() c FROM spans FINAL")[0]["c"] == 50 * 100


def test_a_batch_too_big_for_one_by_trace_message_still_reaches_the_join(broker, topic_prefix, tmp_path):
    # Every log here belongs to a trace on by-trace partition 0, so a consumed batch of them
    # (up to 500 messages of 200 logs) re-keys to one partition: tens of MB as one message,
    # more than the producer sends. The worker once stalled there for good, storing nothing
    # more; the re-keyed records must be split into messages that fit.
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    partitions = dict(read_topics())["telemetry.by_trace"]
    seeds = [s for s in range(1, 10_000) if trace_partition(S.ids(s, 0)[0], partitions) == 0][:400]
    publish(settings, (("otlp_logs", None, S.logs(s, 200)[0]) for s in seeds))
    rc, err = run_worker(worker_env(broker, topic_prefix, tmp_path / "ch"), idle_s=3, timeout=240)
    assert rc == 0, err[-3000:]
    assert "Crashed" not in err and '"event":"error"' not in err, err[-3000:]
    done = [e for e in events(err) if e["event"] == "idle-stop"][-1]
    assert done["correlation"]["logs_in"] == len(seeds) * 200
    assert sql(tmp_path / "ch", "SELECT uniqExact(id) u FROM logs FINAL")[0]["u"] == len(seeds) * 200


# Runs the worker with every re-keyed message that carries records made too big to send: a
# send the producer refuses, as an undersized broker limit would.
_REFUSED_SENDS = """
import sys
import pipeline.worker.ingest_batches as ingest_batches
from pipeline.cli import main
plain = ingest_batches.by_trace_messages
def oversized(spans, logs, *args, **kwargs):
    pad = b" " * (9 << 20) if spans or logs else b""
    return [(p, v + pad) for p, v in plain(spans, logs, *args, **kwargs)]
ingest_batches.by_trace_messages = oversized
sys.exit(main(sys.argv[1:]))
"""


def test_a_send_that_cannot_succeed_stops_the_worker_loudly_and_a_restart_loses_nothing(
        broker, topic_prefix, tmp_path):
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    publish(settings, (("otlp_logs", None, S.logs(s, 100)[0]) for s in range(1, 21)))
    env = worker_env(broker, topic_prefix, tmp_path / "ch")
    failed = subprocess.run([sys.executable, "-c", _REFUSED_SENDS, "worker", "--stop-when-idle", "3"],
                            env=env, capture_output=True, text=True, timeout=90)
    assert failed.returncode != 0, "the worker must not stall (or exit cleanly) on a batch it cannot deliver"
    errors = [e for e in events(failed.stderr) if e["event"] == "error"]
    assert errors and "could not deliver a batch from otlp_logs" in errors[0]["msg"], failed.stderr[-3000:]

    rc, err = run_worker(env)  # the same group, sends working again: it reads the batch again
    assert rc == 0, err[-3000:]
    counts = sql(tmp_path / "ch", "SELECT count() c, uniqExact(id) u FROM logs FINAL")[0]
    assert counts == {"c": 20 * 100, "u": 20 * 100}
    done = [e for e in events(err) if e["event"] == "idle-stop"][-1]
    assert done["correlation"]["logs_in"] == 20 * 100
