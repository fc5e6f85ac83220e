"""Reads behind root-cause ranking that pipeline/rca/ runs through pipeline.rca.source: the
trace ranking, the symptom finder and the trace-ends lead. The window ranking's reads are in
window.py, gauges.py and log_templates.py beside this module; its yardsticks in baselines.py.
"""

from __future__ import annotations

# Entry spans (no parent) per service, operation and {bucket:Int64}-wide time bucket.
ENTRY_BUCKETS = """
SELECT service, name, intDiv(start_ns, {bucket:Int64}) AS b, count() AS n, countIf(is_error) AS errors,
       quantileTDigest(0.9)(duration_ns) AS p90
FROM correlated_spans FINAL
WHERE parent_span_id = '' AND orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64}
GROUP BY service, name, b
ORDER BY service, name, b
"""

# One trace's correlated spans, as the trace ranking reads them.
TRACE_SPANS = """
SELECT trace_id, span_id, parent_span_id, name, service, instance, host, peer, service_version,
       start_ns, end_ns, orig_start_ns, duration_ns, self_time_ns, is_error, own_error, status_message,
       error_logs, rule_ids, metrics, metric_z, clock_offset_ns
FROM correlated_spans FINAL
WHERE trace_id = {trace:String}
ORDER BY start_ns, span_id
"""

# Self time of the same operations over the recent past, to tell slow from normal.
SELF_TIME_BASELINE = """
SELECT service, peer, name, count() AS n,
       quantilesTDigest(0.5, 0.9, 0.99)(self_time_ns) AS q
FROM correlated_spans
WHERE orig_start_ns >= {lo:Int64} AND orig_start_ns < {hi:Int64} AND trace_id != {trace:String}
  AND (service, peer, name) IN {keys:Array(Tuple(String, String, String))}
GROUP BY service, peer, name
ORDER BY service, peer, name
"""

# Trace ends (pipeline/rca/trace_ends.py): per window or baseline and the service a trace
# ends at, the traces and their mean distinct spans.
TRACE_ENDS = """
SELECT in_window, end_service, count() AS traces, avg(spans) AS spans
FROM (SELECT trace_id, min(start_ns) >= {wf:Int64} AS in_window,
             argMax(if(peer != '', peer, service), start_ns) AS end_service, uniqExact(span_id) AS spans
      FROM correlated_spans
      PREWHERE orig_start_ns >= {ef:Int64} - {pad:Int64} AND orig_start_ns < {wt:Int64} + {pad:Int64}
      WHERE start_ns >= {ef:Int64} AND start_ns < {wt:Int64}
            AND NOT (start_ns >= {bt:Int64} AND start_ns < {wf:Int64})
      GROUP BY trace_id
      HAVING min(start_ns) >= {ef:Int64})
GROUP BY in_window, end_service
ORDER BY in_window, end_service
"""
