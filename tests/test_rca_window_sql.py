"""The window ranking's one scan of correlated_spans (queries.window.COMPONENTS) is exact: amended
and replayed rows count once at their newest version, and what used to be separate reads (root
time, failed-call messages, the first stored span) agrees with a count done in Python over the
newest version of every row."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict

import clickhouse_connect
import pytest

from pipeline.config import Settings
from pipeline.rca import rank_window
from pipeline.rca import components as comp
from pipeline.store.queries import window as sql
from pipeline.rca.source import ClientRows
from pipeline.store.migrate import migrate

MIN = 60 * 10**9
_COLS = ("trace_id", "span_id", "orig_start_ns", "version", "service", "peer", "instance", "name", "start_ns",
         "duration_ns", "own_error", "is_error", "parent_span_id", "status_message")


@pytest.fixture
def amended(chdb_root, rca_runs):
    """A copy of the error run where some traces in the window were amended (a newer version
    with different error flags and messages) and some were replayed (identical twins), with
    merges stopped so every twin stays on disk."""
    src, truth = rca_runs["error"]
    src_db = src.query("SELECT currentDatabase()").result_rows[0][0]
    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "w_" + uuid.uuid4().hex[:10]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    migrate(client, Settings())
    client.command("SYSTEM STOP MERGES correlated_spans")
    client.command("SYSTEM STOP MERGES logs")
    client.command(f"INSERT INTO correlated_spans SELECT * FROM {src_db}.correlated_spans")
    for _ in range(2):  # every log, and a replay of them all
        client.command(f"INSERT INTO logs SELECT * FROM {src_db}.logs")
    f = truth["faults"][0]
    lo, hi = f["start_ns"], f["end_ns"]
    in_window = f"start_ns >= {lo} AND start_ns < {hi}"
    client.command(
        "INSERT INTO correlated_spans SELECT * REPLACE (version + 2 AS version, NOT own_error AS own_error, "
        "NOT is_error AS is_error, concat('amended: connection refused ', status_message) AS status_message) "
        f"FROM {src_db}.correlated_spans WHERE {in_window} AND cityHash64(trace_id) % 5 = 0")
    client.command(f"INSERT INTO correlated_spans SELECT * FROM {src_db}.correlated_spans "
                   "WHERE cityHash64(trace_id) % 5 = 1")
    yield client, lo, hi
    admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")


def _expected(client, period: sql.Period) -> tuple[dict, int, Counter, int]:
    """Per component counts over the newest version of each row, computed in Python."""
    res = client.query(f"SELECT {', '.join(_COLS)} FROM correlated_spans")
    newest: dict[tuple, dict] = {}
    for values in res.result_rows:
        r = dict(zip(_COLS, values))
        key = (r["service"], r["orig_start_ns"] // MIN, r["trace_id"], r["span_id"])
        if key not in newest or r["version"] > newest[key]["version"]:
            newest[key] = r
    groups: dict[tuple, Counter] = defaultdict(Counter)
    failed: Counter = Counter()
    roots, first = 0, None
    for r in newest.values():
        w = period.from_ns <= r["start_ns"] < period.to_ns
        b = period.base_from_ns <= r["start_ns"] < period.base_to_ns
        if not (w or b):
            continue
        g = groups[(r["service"], r["peer"], r["instance"], r["name"])]
        side = "w" if w else "b"
        g["n_" + side] += 1
        g["own_err_" + side] += r["own_error"]
        g["err_" + side] += r["is_error"]
        if w and not r["parent_span_id"]:
            roots += r["duration_ns"]
        if w and r["own_error"] and r["peer"]:
            failed[(r["service"], r["peer"], r["status_message"])] += 1
        if b:
            first = r["start_ns"] if first is None else min(first, r["start_ns"])
    return groups, roots, failed, first


def test_components_count_each_row_once_at_its_newest_version(amended):
    client, lo, hi = amended
    period = sql.Period(lo, hi, lo - 30 * MIN, lo)
    rows = ClientRows(client).rows(sql.COMPONENTS, period.params())
    groups, roots, failed, first = _expected(client, period)
    got = {(r["service"], r["peer"], r["instance"], r["name"]): r for r in rows}
    assert set(got) == set(groups)
    for key, want in groups.items():
        assert {k: got[key][k] for k in ("n_w", "n_b", "own_err_w", "own_err_b", "err_w", "err_b")} == \
            {k: want[k] for k in ("n_w", "n_b", "own_err_w", "own_err_b", "err_w", "err_b")}, key
    assert comp.root_ns(rows) == roots > 0
    assert comp.first_stored_ns(rows) == first
    assert {(f["service"], f["peer"], f["message"]): f["n"] for f in comp.call_failures(rows)} == dict(failed)
    assert any(m.startswith("amended") for _, _, m in failed)
    # The twins are really there: a plain count sees more rows than the ranking counts.
    plain = client.query(f"SELECT count() FROM correlated_spans WHERE start_ns >= {lo} AND start_ns < {hi}")
    assert plain.result_rows[0][0] > sum(g["n_w"] for g in groups.values())


def test_rule_counts_count_a_replayed_log_once(amended):
    client, lo, hi = amended
    period = sql.Period(lo, hi, lo - 30 * MIN, lo)
    got = {(r["service"], r["instance"], r["rule"]): (r["n_w"], r["n_b"])
           for r in ClientRows(client).rows(sql.LOG_RULES, period.params())}
    seen: dict[tuple, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    res = client.query("SELECT id, service, instance, time_ns, rules FROM logs")
    for log_id, service, instance, t, rules in res.result_rows:
        for rule in rules:
            if lo <= t < hi:
                seen[(service, instance, rule)][0].add(log_id)
            elif period.base_from_ns <= t < lo:
                seen[(service, instance, rule)][1].add(log_id)
    assert got and got == {k: (len(w), len(b)) for k, (w, b) in seen.items()}
    assert client.query("SELECT count() FROM logs").result_rows[0][0] == \
        2 * client.query("SELECT uniqExact(id) FROM logs").result_rows[0][0]


def test_call_failures_are_ranked_and_capped():
    rows = [{"service": "a", "peer": "db", "failed_messages": (["refused", "reset"], [3, 5])},
            {"service": "a", "peer": "db", "failed_messages": (["refused"], [4])},
            {"service": "b", "peer": "db", "failed_messages": ([f"m{i}" for i in range(300)], [1] * 300)}]
    out = comp.call_failures(rows)
    assert out[:2] == [{"service": "a", "peer": "db", "message": "refused", "n": 7},
                       {"service": "a", "peer": "db", "message": "reset", "n": 5}]
    assert len(out) == 200


def test_baseline_starts_at_the_first_stored_span(rca_runs):
    client, truth = rca_runs["error"]
    lo, hi = truth["faults"][0]["start_ns"], truth["faults"][0]["end_ns"]
    first = client.query("SELECT min(start_ns) FROM correlated_spans FINAL").result_rows[0][0]
    answer = rank_window(client, lo, hi)
    assert answer["baseline"] == {"from_ns": first, "to_ns": lo}
    assert not any("baseline is thin" in n for n in answer["notes"])
    thin = rank_window(client, first + 10 * 10**9, first + 70 * 10**9)
    assert thin["baseline"]["from_ns"] >= first
    assert any("baseline is thin" in n for n in thin["notes"])
