"""The simple rankings the window ranking is scored against (pipeline/rca/evaluate.py): each
answers "which service is at fault" the obvious way, from the same store. Each takes
`Period.params()` and returns (target, score) rows, best first."""

from __future__ import annotations

from pipeline.store.queries.window import SPAN_SCOPE

# Baselines charge a call to the service called (as telecorr does), so that a database or a
# dead service, which writes no spans itself, can be named at all.
# Rank services by how many of their spans are errors in the window.
MOST_ERRORS = f"""
SELECT if(peer != '', peer, service) AS target, countIf(is_error AND start_ns >= {{wf:Int64}}) AS score
FROM correlated_spans FINAL WHERE {SPAN_SCOPE}
GROUP BY target HAVING score > 0 ORDER BY score DESC, target
"""

# Rank services by the rise of their spans' median duration, window over baseline.
LATENCY_INCREASE = f"""
SELECT if(peer != '', peer, service) AS target, quantileTDigestIf(0.5)(duration_ns, start_ns >= {{wf:Int64}})
                / greatest(quantileTDigestIf(0.5)(duration_ns, start_ns < {{wf:Int64}}), 1) AS score
FROM correlated_spans FINAL WHERE {SPAN_SCOPE}
GROUP BY target HAVING countIf(start_ns >= {{wf:Int64}}) > 0 AND countIf(start_ns < {{wf:Int64}}) > 0
ORDER BY score DESC, target
"""

# Rank services by their largest gauge deviation (|z| of the window mean against the baseline).
METRIC_DEVIATION = """
SELECT service AS target, max(abs(mean_w - mean_b) / (sd_b + 1e-9)) AS score FROM (
    SELECT service, instance, name,
           avgIf(value, time_ns >= {wf:Int64}) AS mean_w, avgIf(value, time_ns < {bt:Int64}) AS mean_b,
           stddevPopIf(value, time_ns < {bt:Int64}) AS sd_b
    FROM metrics FINAL
    WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} AND type = 'gauge'
    GROUP BY service, instance, name
    HAVING countIf(time_ns >= {wf:Int64}) > 0 AND countIf(time_ns < {bt:Int64}) > 1
)
WHERE service != '' GROUP BY service ORDER BY score DESC, service
"""

BASELINES = {"most_errors": MOST_ERRORS, "latency_increase": LATENCY_INCREASE,
             "metric_deviation": METRIC_DEVIATION}
