"""Instrumentation profiles: how much the simulated services tell about themselves.

`otel` (the default) is a well-instrumented OpenTelemetry shop: span kinds and statuses,
structured logs, scrapes every few seconds. `real` is what a typical Kubernetes deployment of
older services gives instead, the shape of public fault datasets recorded on such systems:

- spans carry no kind and no status (a call is a span in the caller's pod whose child is the
  callee's span); errors exist only in log text;
- every log line arrives in the container runtime's JSON wrapper (`{"log", "stream", "time"}`),
  the app line in a logback-style layout with a zone-less local-time stamp, its level, thread
  and logger; the trace id, where the service writes one, is in the record's own field;
- pods are the instances (`k8s.pod.name`, named like a Deployment's pods), metrics are read
  once a minute per pod, and besides the series that are always 0 or spike to a wrapped
  counter, one latency series is NaN in minutes a pod served nothing.
"""

from __future__ import annotations

import hashlib

from pipeline.sim.topology import Instance, Topology

PROFILES = ("otel", "real")
# The local zone the `real` profile's app lines are stamped in (no zone is written in them).
REAL_LOG_TZ = "Asia/Shanghai"
REAL_METRIC_INTERVAL_NS = 60 * 10**9
_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes


def pod_name(service: str, index: int, seed: int) -> str:
    """`cart-7d9f8c6b5d-x2k9p`: a ReplicaSet hash shared by the service's pods, then the pod's own."""
    def suffix(text: str, n: int) -> str:
        h = hashlib.blake2b(text.encode(), digest_size=16).digest()
        return "".join(_POD_CHARS[b % len(_POD_CHARS)] for b in h[:n])
    return f"{service}-{suffix(f'{seed}:{service}', 10)}-{suffix(f'{seed}:{service}:{index}', 5)}"


def apply_profile(topo: Topology, profile: str, seed: int) -> None:
    """Adjust a loaded topology in place to what `profile` instruments."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}")
    if profile == "otel":
        return
    for svc in topo.services.values():
        svc.sets_kind = svc.sets_status = False
        svc.log_format = "container-local"
        svc.metric_interval_ns = REAL_METRIC_INTERVAL_NS
        for i, inst in enumerate(svc.instances):
            inst.id = pod_name(svc.name, i, seed)


def resource_pairs(profile: str, inst: Instance, version: str, namespace: str) -> tuple[tuple[str, str], ...]:
    """Resource attributes of an instance's telemetry under `profile`."""
    svc = inst.service
    if profile == "real":
        return (("service.name", svc.name), ("k8s.pod.name", inst.id), ("k8s.namespace.name", namespace),
                ("k8s.container.name", svc.name), ("host.name", inst.host), ("service.version", version))
    return (("service.name", svc.name), ("service.instance.id", inst.id), ("host.name", inst.host),
            ("service.version", version), ("telemetry.sdk.language", svc.language),
            ("service.namespace", namespace))
