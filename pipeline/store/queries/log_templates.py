"""Reads behind the log-pattern evidence (pipeline/rca/logpatterns.py): per (service,
instance, template), lines in the window and per baseline minute or slice."""

from __future__ import annotations

# Distinct lines per (service, instance, template) in the window; a replayed log is a twin under
# the same id, so counting ids is exact without FINAL.
TEMPLATES_WINDOW = """
SELECT service, instance, template_id, any(template) AS template, max(severity_number) AS severity,
       uniqExact(id) AS n
FROM logs
PREWHERE time_ns >= {wf:Int64} AND time_ns < {wt:Int64}
GROUP BY service, instance, template_id
ORDER BY service, instance, template_id
"""

# Per (service, instance, template): its count in each whole baseline minute that has it.
TEMPLATES_BASELINE = """
SELECT service, instance, template_id, any(template) AS template, groupArray(minute_ns) AS slices,
       groupArray(n) AS counts
FROM (SELECT service, instance, template_id, minute_ns, any(template) AS template, uniqExactMerge(lines) AS n
      FROM log_template_minutes
      WHERE minute_ns >= {sf:Int64} AND minute_ns < {st:Int64}
      GROUP BY service, instance, template_id, minute_ns)
GROUP BY service, instance, template_id
ORDER BY service, instance, template_id
"""

# The same from the logs themselves in shorter slices, for a baseline of a few minutes.
TEMPLATES_BASELINE_SHORT = """
SELECT service, instance, template_id, any(template) AS template, groupArray(slice) AS slices,
       groupArray(n) AS counts
FROM (SELECT service, instance, template_id, intDiv(time_ns, {slice:Int64}) AS slice, any(template) AS template,
             uniqExact(id) AS n
      FROM logs
      PREWHERE time_ns >= {sf:Int64} AND time_ns < {st:Int64}
      GROUP BY service, instance, template_id, slice)
GROUP BY service, instance, template_id
ORDER BY service, instance, template_id
"""
