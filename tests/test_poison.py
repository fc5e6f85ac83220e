"""The poison suite: many kinds of bad input, each mixed with good traffic, through one real
broker and a real worker on chDB (docs/poison.md lists the kinds). For every kind the worker
keeps going, every good record is stored once and its trace correlated, the bad input is on
the DLQ with a reason (or stored cut/flagged, where that is the documented outcome), and a
restart on the same group reads nothing again and stores nothing twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.kafka.io import publish, read_topic
from benchmarks.harness.poison import S, Traffic, kinds, trace_id
from tests.workerproc import events, run_worker, sql, worker_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def poisoned_run(broker, tmp_path_factory):
    """Publish every kind between good traces, run a worker to idle, then restart it once."""
    prefix = "poison" + str(int(time.time())) + "."
    now = time.time_ns()
    tr = Traffic(now - 120 * S)
    all_kinds = kinds(tr, now)
    msgs = []
    for i, kind in enumerate(all_kinds):
        good = tr.trace(i)  # a good trace around every kind: spans before, logs after
        msgs += [good[0]] + [(topic, value) for topic, value in kind.messages] + [good[1]]
    msgs += tr.trace(len(all_kinds))  # and one after the last
    publish(Settings(broker=broker, topic_prefix=prefix), [(t, None, v) for t, v in msgs])
    chdb = tmp_path_factory.mktemp("poison") / "ch"
    env = worker_env(broker, prefix, chdb)
    rc, err = run_worker(env, idle_s=4, timeout=240)
    first = {"rc": rc, "err": err}
    stored = sql(chdb, "SELECT (SELECT count() FROM spans FINAL) s, (SELECT count() FROM logs FINAL) l, "
                       "(SELECT count() FROM dlq FINAL) d")[0]
    dlq_first = asyncio.run(read_topic(broker, prefix + "telemetry.dlq"))
    rc2, err2 = run_worker(env, idle_s=4, timeout=240)
    return {"kinds": all_kinds, "traffic": tr, "first": first, "stored": stored, "dlq": dlq_first,
            "restart": {"rc": rc2, "err": err2}, "chdb": chdb, "prefix": prefix,
            "dlq_after": asyncio.run(read_topic(broker, prefix + "telemetry.dlq"))}


def test_there_are_at_least_25_kinds_and_docs_list_them(poisoned_run):
    assert len(poisoned_run["kinds"]) >= 25
    assert len({k.name for k in poisoned_run["kinds"]}) == len(poisoned_run["kinds"])
    table = [ln for ln in (Path(__file__).parent.parent / "docs/poison.md").read_text().splitlines()
             if ln.startswith("| ") and not ln.startswith(("| kind", "| ---"))]
    assert len(table) == len(poisoned_run["kinds"])


def test_the_worker_keeps_going(poisoned_run):
    first = poisoned_run["first"]
    assert first["rc"] == 0, first["err"][-4000:]
    # No crash: no bare traceback (libraries' logged exceptions are structured log lines) and
    # no "error" event (a batch the worker could not deliver).
    crashes = [ln for ln in first["err"].splitlines() if ln.startswith("Traceback") or "Crashed" in ln]
    assert not crashes, first["err"][-4000:]
    assert not [e for e in events(first["err"]) if e["event"] == "error"]
    stop = [e for e in events(first["err"]) if e["event"] == "idle-stop"]
    assert len(stop) == 1


def test_every_good_record_is_stored_once_and_its_trace_correlated(poisoned_run):
    chdb, tr = poisoned_run["chdb"], poisoned_run["traffic"]
    ids = ", ".join(f"'{trace_id(n)}'" for n in tr.traces)
    spans = {r["trace_id"]: r for r in sql(chdb, f"SELECT trace_id, count() c, uniqExact(id) u FROM spans FINAL "
                                                 f"WHERE trace_id IN ({ids}) GROUP BY trace_id")}
    logs = {r["trace_id"]: r["c"] for r in sql(chdb, f"SELECT trace_id, count() c FROM logs FINAL "
                                                     f"WHERE trace_id IN ({ids}) GROUP BY trace_id")}
    corr = {r["trace_id"]: r for r in sql(chdb, f"SELECT trace_id, count() c, sum(log_count) lc FROM correlated_spans "
                                                f"FINAL WHERE trace_id IN ({ids}) GROUP BY trace_id")}
    missing = [n for n in tr.traces if spans.get(trace_id(n), {}).get("c") != 3 or logs.get(trace_id(n)) != 3]
    assert not missing, missing
    assert all(r["u"] == r["c"] for r in spans.values())
    uncorrelated = [n for n in tr.traces if corr.get(trace_id(n), {}).get("c") != 3 or corr[trace_id(n)]["lc"] != 3]
    assert not uncorrelated, uncorrelated


def test_bad_input_is_on_the_dlq_with_a_reason_once(poisoned_run):
    prefix = poisoned_run["prefix"]
    letters = poisoned_run["dlq"]
    by_value: dict[bytes, list] = {}
    for rec in letters:
        by_value.setdefault(rec.value, []).append(rec)
    for kind in poisoned_run["kinds"]:
        if kind.outcome != "dlq":
            continue
        topic, value = kind.messages[0]
        found = by_value.get(value, [])
        assert len(found) == 1, (kind.name, len(found))
        headers = dict(found[0].headers)
        assert headers["telecorr.reason"], kind.name
        assert headers["telecorr.source.topic"] == (prefix + topic).encode(), kind.name
    # Nothing good was dead-lettered: every DLQ message is one of the poison messages, or the
    # record of one the store refused (source topic store.<table>).
    poison = {v for k in poisoned_run["kinds"] for _, v in k.messages}
    refused = [rec for rec in letters if dict(rec.headers)["telecorr.source.topic"].startswith(b"store.")]
    assert all(rec.value in poison for rec in letters if rec not in refused)
    assert len(refused) == sum(k.outcome == "store" for k in poisoned_run["kinds"])
    assert all(b"poison" in rec.value for rec in refused)
    rows = sql(poisoned_run["chdb"], "SELECT topic, reason FROM dlq FINAL")
    assert len(rows) == len(letters) and all(r["reason"] for r in rows)


def test_what_is_kept_is_kept_as_documented(poisoned_run):
    failed = [k.name for k in poisoned_run["kinds"]
              if k.stored_check and sql(poisoned_run["chdb"], f"SELECT ({k.stored_check}) AS ok")[0]["ok"] != 1]
    assert not failed


def test_a_restart_reads_nothing_again_and_stores_nothing_twice(poisoned_run):
    restart = poisoned_run["restart"]
    assert restart["rc"] == 0, restart["err"][-4000:]
    assert not [ln for ln in restart["err"].splitlines() if ln.startswith("Traceback")]
    stop = [e for e in events(restart["err"]) if e["event"] == "idle-stop"][0]
    assert stop["messages"] == 0  # every input message was acknowledged the first time
    after = sql(poisoned_run["chdb"], "SELECT (SELECT count() FROM spans FINAL) s, (SELECT count() FROM logs FINAL) l, "
                                      "(SELECT count() FROM dlq FINAL) d")[0]
    assert after == poisoned_run["stored"]
    # Input-topic poison is not dead-lettered again; the all-partitions readers (metrics,
    # skew) re-read their topics from the start on every start, so theirs may repeat.
    internal = (poisoned_run["prefix"] + "telemetry.metrics").encode(), (poisoned_run["prefix"] + "telemetry.skew").encode()
    again = [r for r in poisoned_run["dlq_after"][len(poisoned_run["dlq"]):]
             if dict(r.headers)["telecorr.source.topic"] not in internal]
    assert not again
