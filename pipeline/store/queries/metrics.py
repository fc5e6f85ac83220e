"""Reads behind metric charts (GET /v1/metrics/series and the report page)."""

from __future__ import annotations

# Gauge readings of one service, thinned to the mean of each `step`-wide bucket. Buckets are
# aligned to multiples of `step` from the epoch (no subtraction, so no overflow at the ends of
# the Int64 range); a bucket holding one reading keeps it exactly. The instance is the
# series' own, else its Kubernetes pod (as the ranking names it).
SERIES = """
SELECT name, if(instance != '', instance, resource['k8s.pod.name']) AS inst, min(time_ns) AS t, avg(value) AS v
FROM metrics FINAL
WHERE service = {service:String} AND time_ns BETWEEN {lo:Int64} AND {hi:Int64}
  AND ({any_instance:Bool} OR inst = {instance:String})
  AND ({any_name:Bool} OR has({names:Array(String)}, name))
GROUP BY name, inst, intDiv(time_ns, {step:Int64}) AS bucket
ORDER BY name, inst, t
"""
