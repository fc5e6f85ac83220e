"""Reads behind the trace lookup (GET /v1/traces/{id} and the trace page)."""

from __future__ import annotations

# One thread: the read is a granule or two, and spinning up parallel streams for it costs more.
TRACE_DOCS = "SELECT kind, id, version, doc FROM trace_docs WHERE trace_id = {tid:String} SETTINGS max_threads = 1"

# Each host's newest offset estimate, for spans no correlated row has placed yet.
CLOCK_OFFSETS = """
SELECT host, argMax(offset_ns, updated_at) AS offset_ns
FROM clock_offsets WHERE has({hosts:Array(String)}, host) GROUP BY host ORDER BY host
"""

# Readings the engine's metric index would hold for these services in this time range, and
# the points whose exemplars name the trace.
METRICS_NEAR = """
SELECT name, type, service, instance, host, time_ns, value, attributes,
       exemplar_times, exemplar_values, exemplar_trace_ids, exemplar_span_ids
FROM metrics
WHERE time_ns BETWEEN {lo:Int64} AND {hi:Int64}
  AND (has({services:Array(String)}, service) OR has(exemplar_trace_ids, {tid:String}))
ORDER BY time_ns, id
"""
