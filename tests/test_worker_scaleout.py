"""Several workers in one consumer group (issue 5 "rebalance from one to two workers", issue 7
"two workers, one killed"), on the real broker with real chDB.

What these tests prove, and what they cannot. chDB is embedded: one data directory belongs to
one process, and no ClickHouse server can run on this machine, so the workers cannot share a
store here. Each worker writes its own chDB directory; afterwards the stores are read back and
merged the way a shared ReplacingMergeTree collapses them (per id, the highest version wins).
That proves the Kafka-level and engine-level properties: the group splits and hands over the
partitions, no input record is lost across a rebalance or a kill, a trace is only ever
finished by the worker that holds all of it (partial work left by a lost or dead owner always
carries a lower version), and the merged result equals a single worker's. It does not run a
shared ClickHouse server: the server-side collapse itself (FINAL / background merges across
inserts from several clients) is taken on ReplacingMergeTree's documented semantics.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from pipeline.config import Settings
from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.correlate.skew_share import decode_samples, encode_samples
from pipeline.kafka.io import publish
from pipeline.model import Span
from tests.test_correlate_invariance import CFG, clean, final_rows, traffic
from tests.workerproc import (CORRELATED, RAW, StderrFollower, newest_by_id, progress_where, row_differences,
                              sql, start_worker, wait_for_progress, worker_env)

ALL_ROWS = CORRELATED.replace(" FINAL", "")


def _feed(eng: Correlator, recs: list, partition: int) -> None:
    eng.add([r for r in recs if isinstance(r, Span)], [r for r in recs if not isinstance(r, Span)],
            partition=partition)


def test_engine_handover_with_shared_sketches_gives_the_one_engine_rows():
    """The worker's rebalance rule at engine level, on traffic long enough for the global skew
    tables to matter: engine A reads both partitions, then loses partition 1 (drop_partitions);
    engine B replays partition 1 from the commit (the first record of a trace A still had
    pending) after loading every skew message published so far; both keep publishing their
    grown sketches through the wire format. The rows collapsed by newest version equal one
    engine's."""
    items = [rec for _, _, rec in traffic().arrival_order()]
    part = [int(r.trace_id[-1], 16) % 2 for r in items]
    skew_topic: list[bytes] = []  # every worker publishes here and reads all of it
    read = {"a": 0, "b": 0}

    def exchange(name: str, eng: Correlator) -> None:
        grown = eng.skew.take_changed()
        mine = len(skew_topic)
        if grown:
            skew_topic.append(encode_samples(grown))
        for i in range(read[name], len(skew_topic)):
            if i != mine:
                eng.skew.merge_samples(decode_samples(skew_topic[i]))
        read[name] = len(skew_topic)

    a = Correlator(CorrelateConfig(**CFG))
    a.add(metrics=traffic().metrics)
    rows = []
    handover = len(items) // 2 // 250 * 250
    for i in range(0, handover, 250):
        for p in (0, 1):
            _feed(a, [r for r, q in zip(items[i:i + 250], part[i:i + 250]) if q == p], p)
        rows += a.poll()
        exchange("a", a)
    ones = [i for i in range(handover) if part[i] == 1]
    commit = next((i for i in ones if a.is_pending(items[i].trace_id)), handover)
    dropped = a.drop_partitions({1})
    assert dropped > 0 and not any(a.is_pending(items[i].trace_id) for i in ones)
    assert a.counters()["traces_handed_over"] == dropped

    b = Correlator(CorrelateConfig(**CFG))
    b.add(metrics=traffic().metrics)
    exchange("b", b)
    replay = [items[i] for i in range(commit, handover) if part[i] == 1]
    for i in range(0, max(len(replay), 1), 250):
        _feed(b, replay[i:i + 250], 1)
        rows += b.poll()
        exchange("b", b)
    for i in range(handover, len(items), 250):
        _feed(a, [r for r, q in zip(items[i:i + 250], part[i:i + 250]) if q == 0], 0)
        _feed(b, [r for r, q in zip(items[i:i + 250], part[i:i + 250]) if q == 1], 1)
        rows += a.poll() + b.poll()
        exchange("a", a)
        exchange("b", b)
    rows += a.flush_all() + b.flush_all()
    assert final_rows(rows) == clean()


def test_a_lost_partition_no_longer_holds_back_the_watermark():
    eng = Correlator(CorrelateConfig(**CFG))
    items = [rec for _, _, rec in traffic().arrival_order()]
    spans = [r for r in items if isinstance(r, Span)]
    _feed(eng, spans[:50], 1)  # partition 1 stops early: the watermark stays there
    _feed(eng, spans[50:2000], 0)
    stuck = eng.watermark()
    eng.drop_partitions({1})
    assert eng.watermark() > stuck
    assert eng.poll()  # traces of partition 0 complete now


def merged_stores(stores: list) -> tuple[list[dict], int]:
    """correlated_spans of several stores collapsed as one ReplacingMergeTree would, in id
    order; also how many rows were superseded. Rows of equal id and version written by
    different workers must agree (but for metric readings, see `row_differences`), or
    "newest wins" would pick arbitrarily."""
    rows = [r for s in stores for r in sql(s, ALL_ROWS)]
    by_key: dict[tuple[str, int], dict] = {}
    for r in rows:
        other = by_key.setdefault((r["id"], r["version"]), r)
        assert row_differences([r], [other])[0] == 0, ("two rows under one id and version differ", other, r)
    merged = newest_by_id(rows)
    return [merged[k] for k in sorted(merged)], len(rows) - len(merged)


def raw_union(stores: list) -> dict[str, dict[str, int]]:
    """Per raw table over all stores: distinct ids, and rows that were written more than once
    (a redelivered batch; a shared ReplacingMergeTree keeps one)."""
    out = {}
    for t in RAW:
        ids = [r["id"] for s in stores for r in sql(s, f"SELECT id FROM {t}")]
        out[t] = {"ids": len(set(ids)), "redelivered": len(ids) - len(set(ids))}
    return out


def _parts(e: dict) -> int:
    return len(e["by_trace_partitions"])


def trickle(settings: Settings, msgs: list, start: int, until, step: int = 4, pause_s: float = 0.3) -> int:
    """Publish msgs[start:] a few at a time, like live traffic, until `until()` holds (or the
    messages run out); returns the index reached. Workers stay busy meanwhile, so none of them
    stops for idleness while the group rebalances."""
    i = start
    while i < len(msgs) and not until():
        publish(settings, msgs[i:i + step])
        i += step
        time.sleep(pause_s)
    return min(i, len(msgs))


def _finish(proc: subprocess.Popen, follower: StderrFollower, timeout: float = 240) -> None:
    proc.wait(timeout=timeout)
    follower.join()
    assert proc.returncode == 0, "".join(follower.lines)[-3000:]


@pytest.mark.integration
def test_rebalance_from_one_to_two_workers_gives_the_one_worker_rows(broker, topic_prefix, tmp_path, shop_clean_run):
    """Worker A starts alone on live traffic; once it holds pending traces and has stored rows,
    worker B joins the group and takes over some partitions (A drops their in-flight state,
    B replays them from the last commit) while traffic keeps arriving. The merged stores must
    equal the one-worker run by id and version, and in content but for metric readings."""
    msgs, truth, want = shop_clean_run
    prefix = topic_prefix + "two."
    settings = Settings(broker=broker, topic_prefix=prefix)
    first = len(msgs) // 4
    publish(settings, msgs[:first])
    env_a = worker_env(broker, prefix, tmp_path / "a", TELECORR_CONSUME_BATCH="20")
    env_b = dict(env_a, TELECORR_CLICKHOUSE=f"chdb://{tmp_path / 'b'}")  # same group, own store
    a = start_worker(env_a, idle_s=6)
    fa = StderrFollower(a)
    at = trickle(settings, msgs, first, lambda: progress_where(
        fa, lambda e: e["stored"].get("correlated_spans", 0) > 0 and e["held_messages"] > 0) is not None)
    b = start_worker(env_b, idle_s=6)
    fb = StderrFollower(b)
    handed_over = lambda e: 0 < _parts(e) < 4 and e["correlation"]["traces_handed_over"] > 0  # noqa: E731
    at = trickle(settings, msgs, at, lambda: progress_where(fa, handed_over) is not None)
    assert at < len(msgs), "the traffic ran out before the rebalance: the test proved nothing"
    publish(settings, msgs[at:])
    _finish(a, fa)
    _finish(b, fb)

    handed = progress_where(fa, handed_over)
    got, superseded = merged_stores([tmp_path / "a", tmp_path / "b"])
    union = raw_union([tmp_path / "a", tmp_path / "b"])
    print(f"A handed over {handed['correlation']['traces_handed_over']} in-flight traces "
          f"(partitions left to A: {handed['by_trace_partitions']}); {superseded} superseded correlated rows; "
          f"raw union {union}; simulated {truth}")
    assert [(r["id"], r["version"]) for r in got] == [(r["id"], r["version"]) for r in want]
    strict, metric_only = row_differences(got, want)
    print(f"rows differing from the one-worker run: {strict}; in metric readings only: {metric_only}")
    assert strict == 0
    for t in RAW:
        assert union[t]["ids"] == truth[t], (t, union[t], truth)


@pytest.mark.integration
def test_two_workers_one_killed_gives_the_one_worker_rows(broker, topic_prefix, tmp_path, shop_clean_run):
    """Workers A and B share the partitions from the start; B is SIGKILLed mid-stream, holding
    pending traces, while traffic keeps arriving. A takes over B's partitions after the session
    timeout and finishes. Every record is processed (each raw id is stored somewhere, one
    correlated row per span) and the collapsed result equals the one-worker run."""
    msgs, truth, want = shop_clean_run
    prefix = topic_prefix + "kill."
    settings = Settings(broker=broker, topic_prefix=prefix)
    publish(settings, msgs[:1])  # creates the topics, so both workers can join at once
    env_a = worker_env(broker, prefix, tmp_path / "a", TELECORR_CONSUME_BATCH="20")
    env_b = dict(env_a, TELECORR_CLICKHOUSE=f"chdb://{tmp_path / 'b'}")
    a, b = start_worker(env_a, idle_s=8), start_worker(env_b, idle_s=8)
    fa, fb = StderrFollower(a), StderrFollower(b)
    wait_for_progress(fa, a, lambda e: 0 < _parts(e) < 4)
    wait_for_progress(fb, b, lambda e: 0 < _parts(e) < 4)
    first = len(msgs) * 2 // 5
    publish(settings, msgs[1:first])
    at_kill = wait_for_progress(fb, b, lambda e: e["stored"].get("correlated_spans", 0) > 0
                                and e["held_messages"] > 0)
    b.send_signal(signal.SIGKILL)
    b.wait()
    # A keeps receiving traffic, so it does not stop for idleness before the group notices.
    at = trickle(settings, msgs, first, lambda: progress_where(fa, lambda e: _parts(e) == 4) is not None,
                 step=1, pause_s=0.2)
    print(f"B killed after {first} of {len(msgs)} messages; A took over after {at}")
    assert at < len(msgs), ("the traffic ran out before A took over: the test proved nothing",
                            a.poll(), "".join(fa.lines)[-3000:])
    publish(settings, msgs[at:])
    _finish(a, fa)

    got, superseded = merged_stores([tmp_path / "a", tmp_path / "b"])
    union = raw_union([tmp_path / "a", tmp_path / "b"])
    print(f"B killed holding {at_kill['held_messages']} messages after storing {at_kill['stored']}; "
          f"{superseded} superseded correlated rows; raw union {union}; simulated {truth}")
    assert len(got) == truth["spans"]  # one correlated row per span: every span processed
    assert [(r["id"], r["version"]) for r in got] == [(r["id"], r["version"]) for r in want]
    strict, metric_only = row_differences(got, want)
    print(f"rows differing from the one-worker run: {strict}; in metric readings only: {metric_only}")
    assert strict == 0
    for t in RAW:
        assert union[t]["ids"] == truth[t], (t, union[t], truth)
