"""Reads behind the window ranking (pipeline/rca/window.py): spans and rule-tagged logs over a
window and its baseline, and the evidence rows shown for each candidate.

Each aggregation returns one small row per component (service or call edge, instance,
operation) with window and baseline figures side by side, so Python ranks a few hundred rows
however much telemetry the period holds. Spans are read skew-corrected (`start_ns`), with the
sort key's `orig_start_ns` bounding the scan; FINAL keeps an amended trace from counting twice.
Every read of correlated_spans over the whole period is folded into the one COMPONENTS scan,
which dominates the ranking's cost. Every query takes `Period.params()`.
"""

from __future__ import annotations

from dataclasses import dataclass

# A skew-corrected time lies within this of the span's original time (bounded by max_skew_s).
SKEW_PAD_NS = 60_000_000_000


@dataclass(frozen=True, slots=True)
class Period:
    """The window under question and the baseline before it (Unix ns, half-open)."""

    from_ns: int
    to_ns: int
    base_from_ns: int
    base_to_ns: int

    def params(self) -> dict:
        return {"wf": self.from_ns, "wt": self.to_ns, "bf": self.base_from_ns, "bt": self.base_to_ns,
                "lo": self.base_from_ns - SKEW_PAD_NS, "hi": self.to_ns + SKEW_PAD_NS}


SPAN_SCOPE = """
    orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64}
    AND ((start_ns >= {bf:Int64} AND start_ns < {bt:Int64}) OR (start_ns >= {wf:Int64} AND start_ns < {wt:Int64}))
"""
# The window alone (the evidence reads): the sort key bounds the scan to the window, not the baseline.
WINDOW_SCOPE = f"""
    orig_start_ns >= {{wf:Int64}} - {SKEW_PAD_NS} AND orig_start_ns < {{hi:Int64}}
    AND start_ns >= {{wf:Int64}} AND start_ns < {{wt:Int64}}
"""

# FINAL merges each partition on its own. Exact on every table read here: all versions of a
# row share the time its partition is cut by (correlated_spans: orig_start_ns, never changed by
# an amendment; metrics: a replayed point repeats its time under the same id), so twins share a
# partition.
# The setting lets ClickHouse skip merging where a partition's parts cannot hold twins, which
# is most of the cost of FINAL over a period.
FINAL_SETTINGS = "SETTINGS do_not_merge_across_partitions_select_final = 1"

# Per component: a span serving a request counts for its own service; a call out (peer set)
# counts for the edge caller -> peer, so that a failure with no span on the far side (a
# database, a dead instance, a reset connection) still lands on the service called.
# The same pass also gives what users saw (time taken by root spans in the window), the error
# messages of failed calls (to tell a refused or unreachable dependency from a reset
# connection or a timeout) and the first span stored in the baseline period: one scan of
# window and baseline instead of four (pipeline/rca/components.py reads them off the rows).
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
       min(if(w AND own_error, start_ns, NULL)) AS first_own_err_ns,
       sumIf(duration_ns, w AND parent_span_id = '') AS root_ns_w,
       sumMapIf([status_message], [toUInt64(1)], w AND own_error AND peer != '') AS failed_messages,
       minIf(start_ns, NOT w) AS first_b_ns
FROM (
    SELECT service, peer, instance, name, own_error, is_error, self_time_ns, duration_ns, service_version,
           start_ns, parent_span_id, status_message, start_ns >= {{wf:Int64}} AS w
    FROM correlated_spans FINAL
    WHERE {SPAN_SCOPE}
)
GROUP BY service, peer, instance, name
ORDER BY service, peer, instance, name
{FINAL_SETTINGS}
"""


# Rule-tagged logs per service and rule, whether or not the log carried a trace id. A replayed
# log is a twin under the same id, so counting distinct ids is exact without FINAL, and only
# the tagged rows (PREWHERE) are read beyond their rules.
LOG_RULES = """
SELECT service, instance, rule, uniqExactIf(id, time_ns >= {wf:Int64}) AS n_w,
       uniqExactIf(id, time_ns < {bt:Int64}) AS n_b, argMinIf(id, time_ns, time_ns >= {wf:Int64}) AS first_id
FROM logs ARRAY JOIN rules AS rule
PREWHERE notEmpty(rules) AND time_ns >= {bf:Int64} AND time_ns < {wt:Int64}
         AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64})
GROUP BY service, instance, rule
ORDER BY service, instance, rule
"""

# Rule-tagged logs whose text names a service that is called (a caller's "call to X failed:
# connection reset"), per named service and rule: how a failing call failed, as the caller saw it.
LOG_MENTIONS = """
SELECT peer, rule, count() AS n
FROM logs ARRAY JOIN rules AS rule
ARRAY JOIN arrayFilter(p -> position(body, p) > 0, {peers:Array(String)}) AS peer
WHERE time_ns >= {wf:Int64} AND time_ns < {wt:Int64} AND notEmpty(rules) AND service != peer
GROUP BY peer, rule
ORDER BY peer, rule
"""

# Example spans of the candidates ({svcs:Array(String)}): failed, or slower than {slow:Int64}.
SPAN_EVIDENCE = f"""
SELECT if(peer != '', peer, service) AS target, trace_id, span_id, service, instance, name, peer, own_error,
       self_time_ns, duration_ns, status_message
FROM correlated_spans FINAL
WHERE {WINDOW_SCOPE}
  AND ((service IN {{svcs:Array(String)}} AND peer = '') OR peer IN {{svcs:Array(String)}})
  AND (own_error OR self_time_ns >= {{slow:Int64}})
ORDER BY target, own_error DESC, self_time_ns DESC
LIMIT 3 BY target
{FINAL_SETTINGS}
"""

LOG_EVIDENCE = """
SELECT service, id, trace_id, span_id, instance, time_ns, substring(body, 1, 300) AS excerpt, rules
FROM logs
WHERE service IN {svcs:Array(String)} AND time_ns >= {wf:Int64} AND time_ns < {wt:Int64}
  AND (severity_number >= 13 OR notEmpty(rules))
ORDER BY service, notEmpty(rules) DESC, severity_number DESC, time_ns
LIMIT 2 BY service
"""
