"""Published root-cause methods from the RCAEval package, fed from what telecorr stores.

rca_eval.py compares telecorr's window ranking with RCAEval's metric-based methods on the
same simulated faults. Those methods expect RCAEval's dataset layout: one wide DataFrame with a
`time` column (Unix seconds) and one column per `<service>_<metric>` (`_cpu`, `_mem`,
`_latency-50`, `_latency-90`, `_workload`, `_error`, ...), split at the anomaly's start.
This module builds that frame from ClickHouse in SQL (spans and gauges bucketed on a common
grid), calls the method, and folds its ranked columns back into services.

The methods get what a user would have when asking about a window: the stored telemetry of
the baseline and the window, and the window's start as the injection time. Nothing from the
simulator's ground truth.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

# The methods that run here on a few minutes of data: BARO (robust z-score of every series,
# window against baseline) and N-Sigma (the same with mean and standard deviation). Left out:
# CIRCA and the PC-based ones (PC's Fisher-z test needs more samples than series, and fails
# "correlation matrix is singular" on a few minutes of ~190 series), RCD (needs its own fork of
# causal-learn: `local_skeleton_discovery`), and those that need torch, scikit-network,
# pingouin/tigramite or PyRCA (CausalRCA, RUN, PageRank variants, MicroCause, ε-Diagnosis).
METHODS = ("baro", "nsigma")
BUCKET_NS = 5 * 10**9
# A skew-corrected span time lies within this of its original time (config max_skew_s is 10 s);
# the pad only lets the primary key prune, the exact filter is on the corrected time.
_SKEW_PAD_NS = 60 * 10**9
# Any dataset name other than None and RCAEval's special cases makes its preprocessing drop
# the time column and constant columns, as for its own datasets.
_DATASET = "telecorr"

# Spans a service served (no peer): its own latency, errors and load per bucket.
_SERVED_SQL = """
SELECT service, intDiv(start_ns - {g0:Int64}, {step:Int64}) AS b,
       quantileExact(0.5)(duration_ns) / 1e6 AS `latency-50`,
       quantileExact(0.9)(duration_ns) / 1e6 AS `latency-90`,
       countIf(is_error) AS error, count() AS workload
FROM correlated_spans FINAL
WHERE orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64}
  AND start_ns >= {g0:Int64} AND start_ns < {g1:Int64} AND peer = '' AND service != ''
GROUP BY service, b
"""

# Calls out, attributed to the callee: the only trace view of a database or broker without spans
# of its own, and where a network fault on an edge shows.
_CALLS_SQL = """
SELECT peer AS service, intDiv(start_ns - {g0:Int64}, {step:Int64}) AS b,
       quantileExact(0.5)(duration_ns) / 1e6 AS `calllatency-50`,
       quantileExact(0.9)(duration_ns) / 1e6 AS `calllatency-90`,
       countIf(is_error) AS callerror
FROM correlated_spans FINAL
WHERE orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64}
  AND start_ns >= {g0:Int64} AND start_ns < {g1:Int64} AND peer != ''
GROUP BY service, b
"""

# Gauges (and summaries' mean) per service: the worst instance in each bucket.
_METRICS_SQL = """
SELECT service, name, intDiv(time_ns - {g0:Int64}, {step:Int64}) AS b,
       max(if(type = 'summary', if(count > 0, sum / count, nan), value)) AS v
FROM metrics FINAL
WHERE time_ns >= {g0:Int64} AND time_ns < {g1:Int64} AND type IN ('gauge', 'summary') AND service != ''
GROUP BY service, name, b
"""

# RCAEval's own names for the two resource metrics its preprocessing knows (`convert_mem_mb`,
# `select_useful_cols`).
_METRIC_ALIASES = {"process.cpu.utilization": "cpu", "process.memory.usage": "mem"}
_COUNT_COLUMNS = ("error", "workload", "callerror")


def available() -> tuple[bool, str]:
    """(True, versions) when RCAEval and the methods in METHODS import, else (False, why)."""
    try:
        _methods()
    except Exception as exc:  # an ImportError, or a dependency failing at import time
        return False, f"RCAEval does not import here: {type(exc).__name__}: {exc}"
    from importlib.metadata import version

    return True, f"RCAEval {version('RCAEval')}"


@functools.cache
def _methods() -> dict[str, Callable]:
    # On Python 3.11 RCAEval.e2e exports only some methods from its namespace (BARO is not among
    # them), so BARO comes from its own module. RCAEval's modules switch every warning off for
    # the whole process when imported; keep that change to the import.
    with warnings.catch_warnings():
        from RCAEval.e2e import nsigma
        from RCAEval.e2e.baro import baro
    return {"baro": baro, "nsigma": nsigma}


def _column_token(service: str) -> str:
    # RCAEval splits column names at "_" into (service, metric); keep both halves free of it.
    return re.sub(r"[^0-9A-Za-z.-]+", "-", service)


def _metric_token(name: str) -> str:
    return _METRIC_ALIASES.get(name) or re.sub(r"[^0-9A-Za-z-]+", "-", name).strip("-")


def _grid(from_ns: int, to_ns: int, base_from_ns: int, step_ns: int) -> tuple[int, int]:
    """(first bucket start, end of last bucket) on a grid through from_ns.

    Buckets are aligned on the window start so that none straddles it; partial buckets at
    either end are left out (a part-filled bucket looks like a drop in load).
    """
    before = (from_ns - base_from_ns) // step_ns
    after = max(1, (to_ns - from_ns) // step_ns)
    if before < 2:
        raise ValueError("the baseline must span at least two buckets before the window")
    return from_ns - before * step_ns, from_ns + after * step_ns


def build_frame(client, from_ns: int, to_ns: int, base_from_ns: int,
                step_ns: int = BUCKET_NS) -> tuple[pd.DataFrame, dict[str, str]]:
    """RCAEval's input for a window: (`time` + `<service>_<metric>` columns, column → service)."""
    g0, g1 = _grid(from_ns, to_ns, base_from_ns, step_ns)
    params = {"g0": g0, "g1": g1, "step": step_ns, "lo": g0 - _SKEW_PAD_NS, "hi": g1 + _SKEW_PAD_NS}
    n = (g1 - g0) // step_ns
    owner: dict[str, str] = {}
    series: dict[str, np.ndarray] = {}

    def put(service: str, metric: str, buckets: np.ndarray, values: np.ndarray, count: bool) -> None:
        col = f"{_column_token(service)}_{metric}"
        if col in series:  # a gauge whose name collides with a span-derived series
            return
        arr = np.zeros(n) if count else np.full(n, np.nan)
        arr[buckets] = values
        series[col] = arr
        owner[col] = service

    for sql in (_SERVED_SQL, _CALLS_SQL):
        df = client.query_df(sql, parameters=params)
        if df.empty:  # no spans at all: a store of metrics only
            continue
        metrics = [c for c in df.columns if c not in ("service", "b")]
        for service, part in df.groupby("service", sort=True):
            b = part["b"].to_numpy(dtype=np.int64)
            for m in metrics:
                put(service, m, b, part[m].to_numpy(dtype=float), m in _COUNT_COLUMNS)
    df = client.query_df(_METRICS_SQL, parameters=params)
    for (service, name), part in ([] if df.empty else df.groupby(["service", "name"], sort=True)):
        put(service, _metric_token(name), part["b"].to_numpy(dtype=np.int64),
            part["v"].to_numpy(dtype=float), False)

    frame = pd.DataFrame(series, index=range(n))
    # Coarse series (a gauge every 10 s, a service idle in a bucket) carry their last reading
    # forward, and their first one back to the start, as RCAEval's read_data fills gaps.
    frame = frame.replace([np.inf, -np.inf], np.nan).ffill().bfill().fillna(0.0)
    frame.insert(0, "time", (g0 + np.arange(n) * step_ns) / 1e9)
    return frame, owner


def _services(ranked: list[str], owner: dict[str, str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for col in ranked:
        s = owner.get(str(col))
        if s is not None and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def rank_services(client, method: str, from_ns: int, to_ns: int, base_from_ns: int) -> list[str]:
    """Services ranked most-likely root cause first by RCAEval's `method`, for [from_ns, to_ns)
    against the baseline [base_from_ns, from_ns)."""
    if method not in METHODS:
        raise ValueError(f"unknown RCAEval method {method!r}; known: {', '.join(METHODS)}")
    ok, why = available()
    if not ok:
        raise RuntimeError(why)
    frame, owner = build_frame(client, from_ns, to_ns, base_from_ns)
    out = _methods()[method](frame, inject_time=from_ns / 1e9, dataset=_DATASET)
    return _services(out["ranks"], owner)

