"""Gauge reads behind the window ranking: per series, per pod and per call edge, window
against baseline (pipeline/rca/window.py, pod_metrics.py, edge_gaps.py). Each takes
`Period.params()` plus {late:Int64}, how far past the window a reading may be stamped."""

from __future__ import annotations

from pipeline.store.queries.window import FINAL_SETTINGS

# Gauge readings per series: window against baseline, and whether the series fell silent.
METRICS = """
SELECT service, instance, name,
       countIf(time_ns >= {wf:Int64} AND time_ns < {wt:Int64}) AS n_w, countIf(time_ns < {bt:Int64}) AS n_b,
       avgIf(value, time_ns >= {wf:Int64} AND time_ns < {wt:Int64}) AS mean_w,
       maxIf(value, time_ns >= {wf:Int64} AND time_ns < {wt:Int64}) AS max_w,
       avgIf(value, time_ns < {bt:Int64}) AS mean_b, stddevPopIf(value, time_ns < {bt:Int64}) AS sd_b,
       maxIf(value, time_ns < {bt:Int64}) AS max_b,
       argMaxIf(time_ns, value, time_ns >= {wf:Int64}) AS peak_ns,
       countIf(time_ns > {wf:Int64}) AS n_late, avgIf(value, time_ns > {wf:Int64}) AS mean_late,
       maxIf(value, time_ns > {wf:Int64}) AS max_late,
       (maxIf(time_ns, time_ns < {bt:Int64}) - minIf(time_ns, time_ns < {bt:Int64}))
           / greatest(countIf(time_ns < {bt:Int64}) - 1, 1) AS step
FROM metrics FINAL
WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} + {late:Int64} AND type = 'gauge'
      AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64})
GROUP BY service, instance, name
ORDER BY service, instance, name
""" + FINAL_SETTINGS

# The pod that reported a series: its instance id, else the Kubernetes pod name. A coarse
# reading covers the interval before its stamp, so the readings stamped up to one interval
# after the window describe it too (and one stamped exactly at the window's start describes
# only the time before it): `med_late` takes those of the next minute, and
# `step` (the baseline's typical spacing) says whether the series is coarse enough to use it.
POD_SERIES = """
SELECT service, if(instance != '', instance, resource['k8s.pod.name']) AS pod, name,
       coalesce(nullIf(attributes['peer.service'], ''), nullIf(attributes['server.address'], ''),
                nullIf(attributes['net.peer.name'], ''), '') AS peer,
       countIf(time_ns >= {wf:Int64} AND time_ns < {wt:Int64}) AS n_w, countIf(time_ns < {bt:Int64}) AS n_b,
       quantilesExactIf(0.1, 0.5, 0.9)(value, time_ns < {bt:Int64}) AS q_b,
       maxIf(value, time_ns < {bt:Int64}) AS max_b,
       quantileExactIf(0.5)(value, time_ns >= {wf:Int64} AND time_ns < {wt:Int64}) AS med_w,
       quantileExactIf(0.5)(value, time_ns > {wf:Int64}) AS med_late,
       maxIf(value, time_ns >= {wf:Int64} AND time_ns < {wt:Int64}) AS max_w,
       (maxIf(time_ns, time_ns < {bt:Int64}) - minIf(time_ns, time_ns < {bt:Int64}))
           / greatest(countIf(time_ns < {bt:Int64}) - 1, 1) AS step
FROM metrics FINAL
WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} + {late:Int64} AND type = 'gauge' AND isFinite(value)
      AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64}) AND service != ''
GROUP BY service, pod, name, peer
ORDER BY service, pod, name, peer
""" + FINAL_SETTINGS

# Per edge and minute: caller-side minus callee-side reading; then per edge: the gap's
# baseline quantiles and its window median (readings stamped up to `late` after the window
# cover the window's last minute).
EDGE_GAPS = """
SELECT caller, callee, metric, any(caller_pod) AS caller_pod,
       countIf(t >= {wf:Int64}) AS n_w, countIf(t < {bt:Int64}) AS n_b,
       quantilesExactIf(0.1, 0.5, 0.9)(gap, t < {bt:Int64}) AS q_b,
       quantileExactIf(0.5)(gap, t >= {wf:Int64}) AS med_w,
       quantileExactIf(0.5)(client, t < {bt:Int64}) AS client_b
FROM (
    SELECT if(side = 'client', service, peer) AS caller, if(side = 'client', peer, service) AS callee,
           replaceOne(name, side, 'client') AS metric, intDiv(time_ns, 60000000000) * 60000000000 AS t,
           avgIf(value, side = 'client') AS client, avgIf(value, side = 'server') AS server,
           client - server AS gap, anyIf(pod, side = 'client') AS caller_pod
    FROM (
        SELECT service, name, time_ns, value, if(instance != '', instance, resource['k8s.pod.name']) AS pod,
               coalesce(nullIf(attributes['peer.service'], ''), nullIf(attributes['server.address'], ''),
                        nullIf(attributes['net.peer.name'], ''), '') AS peer,
               multiIf(position(name, 'client') > 0, 'client', position(name, 'server') > 0, 'server', '') AS side
        FROM metrics FINAL
        WHERE time_ns >= {bf:Int64} AND time_ns < {wt:Int64} + {late:Int64} AND type = 'gauge'
              AND isFinite(value) AND NOT (time_ns >= {bt:Int64} AND time_ns < {wf:Int64})
              AND notEmpty(attributes) AND service != ''
    )
    WHERE side != '' AND peer != '' AND peer != service
    GROUP BY caller, callee, metric, t
    HAVING countIf(side = 'client') > 0 AND countIf(side = 'server') > 0
)
GROUP BY caller, callee, metric
ORDER BY caller, callee, metric
""" + FINAL_SETTINGS
