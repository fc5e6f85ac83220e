"""The aggregations the window ranking needs, done in ClickHouse over the window and its baseline.

Each query returns one small row per component (service or call edge, instance, operation) with
window and baseline figures side by side, so Python ranks a few hundred rows however much
telemetry the period holds. Spans are read skew-corrected (`start_ns`), with the sort key's
`orig_start_ns` bounding the scan; FINAL keeps an amended trace from counting twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.rca.source import Rows

# A skew-corrected time lies within this of the span's original time (bounded by max_skew_s).
_SKEW_PAD_NS = 60_000_000_000


@dataclass(frozen=True, slots=True)
class Period:
    """The window under question and the baseline before it (Unix ns, half-open)."""

    from_ns: int
    to_ns: int
    base_from_ns: int
    base_to_ns: int

    def params(self) -> dict:
        return {"wf": self.from_ns, "wt": self.to_ns, "bf": self.base_from_ns, "bt": self.base_to_ns,
                "lo": self.base_from_ns - _SKEW_PAD_NS, "hi": self.to_ns + _SKEW_PAD_NS}


_SPAN_SCOPE = """
    orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64}
    AND ((start_ns >= {bf:Int64} AND start_ns < {bt:Int64}) OR (start_ns >= {wf:Int64} AND start_ns < {wt:Int64}))
"""

# Per component: a span serving a request counts for its own service; a call out (peer set)
# counts for the edge caller -> peer, so that a failure with no span on the far side (a
# database, a dead instance, a reset connection) still lands on the service called.
COMPONENTS = f"""
SELECT service, peer, instance, name,
       countIf(w) AS n_w, countIf(NOT w) AS n_b,
       countIf(own_error AND w) AS own_err_w, countIf(own_error AND NOT w) AS own_err_b,
       countIf(is_error AND w) AS err_w, countIf(is_error AND NOT w) AS err_b,
       quantilesTDigestIf(0.5, 0.9)(self_time_ns, w) AS self_q_w,
       quantilesTDigestIf(0.5, 0.9, 0.99)(self_time_ns, NOT w) AS self_q_b,
       avgIf(self_time_ns, w) AS self_mean_w, avgIf(self_time_ns, NOT w) AS self_mean_b,
       quantileTDigestIf(0.5)(duration_ns, w) AS dur_p50_w, quantileTDigestIf(0.5)(duration_ns, NOT w) AS dur_p50_b,
       groupUniqArrayIf(service_version, w) AS versions_w,
       -- builds seen well before the window: stored times are on the reference host's clock,
       -- which may sit seconds off true time, so a deploy at the window's start can seem earlier
       groupUniqArrayIf(service_version, start_ns < {{wf:Int64}} - 15000000000) AS versions_b,
       min(if(w AND own_error, start_ns, NULL)) AS first_own_err_ns
FROM (
    SELECT service, peer, instance, name, own_error, is_error, self_time_ns, duration_ns, service_version,
           start_ns, start_ns >= {{wf:Int64}} AS w
    FROM correlated_spans FINAL
    WHERE {_SPAN_SCOPE}
)
GROUP BY service, peer, instance, name
"""

# What users saw: requests (root spans) and the time they took, in the window.
ROOTS = f"""
SELECT count() AS n, sum(duration_ns) AS total_ns, countIf(is_error) AS errors
FROM correlated_spans FINAL
WHERE {_SPAN_SCOPE} AND start_ns >= {{wf:Int64}} AND parent_span_id = ''
"""

# Error messages of failed calls per edge, to tell a refused or unreachable dependency from a
# reset connection or a timeout.
CALL_FAILURES = f"""
SELECT service, peer, status_message AS message, count() AS n
FROM correlated_spans FINAL
WHERE {_SPAN_SCOPE} AND start_ns >= {{wf:Int64}} AND peer != '' AND own_error
GROUP BY service, peer, message
ORDER BY n DESC
LIMIT 200
"""

# Gauge readings per series: window against baseline, and whether the series fell silent.
METRICS = """
SELECT service, instance, name,
       countIf(time_ns >= {wf:Int64}) AS n_w, countIf(time_ns < {bt:Int64}) AS n_b,
       avgIf(value, time_ns >= {wf:Int64}) AS mean_w, maxIf(value, time_ns >= {wf:Int64}) AS max_w,
       avgIf(value, time_ns < {bt:Int64}) AS mean_b, stddevPopIf(value, time_ns < {bt:Int64}) AS sd_b,
       maxIf(value, time_ns < {bt:Int64}) AS max_b,
       argMaxIf(time_ns, value, time_ns >= {wf:Int64}) AS peak_ns
FROM metrics FINAL
WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} AND type = 'gauge'
      AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64})
GROUP BY service, instance, name
"""

# Rule-tagged logs per service and rule, whether or not the log carried a trace id.
LOG_RULES = """
SELECT service, instance, rule, countIf(time_ns >= {wf:Int64}) AS n_w, countIf(time_ns < {bt:Int64}) AS n_b,
       argMinIf(id, time_ns, time_ns >= {wf:Int64}) AS first_id
FROM logs FINAL ARRAY JOIN rules AS rule
WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64})
GROUP BY service, instance, rule
"""

# Rule-tagged logs whose text names a service that is called (a caller's "call to X failed:
# connection reset"), per named service and rule: how a failing call failed, as the caller saw it.
LOG_MENTIONS = """
SELECT peer, rule, count() AS n
FROM logs ARRAY JOIN rules AS rule
ARRAY JOIN arrayFilter(p -> position(body, p) > 0, {peers:Array(String)}) AS peer
WHERE time_ns >= {wf:Int64} AND time_ns < {wt:Int64} AND notEmpty(rules) AND service != peer
GROUP BY peer, rule
"""

# How much of each period is stored at all (a baseline that is empty lowers confidence).
COVERAGE = """
SELECT min(start_ns) AS first_ns FROM correlated_spans
WHERE orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64}
"""


def fetch(src: Rows, sql: str, period: Period) -> list[dict]:
    return src.rows(sql, period.params())
