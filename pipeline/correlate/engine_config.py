"""Knobs of the correlation engine, in nanoseconds and counts.

Kept apart from `pipeline.config.Settings` so the engine can be built in tests and benchmarks
without a settings file; `from_settings` maps the shared settings onto it.
"""

from __future__ import annotations

from dataclasses import dataclass

S = 1_000_000_000


@dataclass(slots=True)
class CorrelateConfig:
    # Join windows (README "Correlation", docs/architecture.md).
    log_window_ns: int = 1 * S
    metric_window_ns: int = 2 * S
    # Event-time completion and lateness.
    inactivity_ns: int = 5 * S
    max_lateness_ns: int = 300 * S
    # Clock skew: estimates are bounded by max_skew_ns and published per event-time epoch.
    skew_correction: bool = True
    max_skew_ns: int = 10 * S
    skew_epoch_ns: int = 10 * S
    skew_history_epochs: int = 30  # how many epochs of pair samples one estimate uses
    skew_samples_per_bucket: int = 64  # bottom-k pair samples kept per host edge and epoch
    skew_min_samples: int = 5  # an edge needs this many samples to count
    skew_mature_epochs: int = 6  # epochs with samples before a table is trusted (see settle)
    # Sampling: fraction of traces kept by trace-id hash; error and slow traces always kept.
    sample_rate: float = 1.0
    slow_span_ns: int = 0  # 0 disables the "slow" rule
    # Memory: caps on buffered traces and on buffered spans+logs.
    max_traces: int = 200_000
    max_records: int = 2_000_000
    # Records of the traces one poll completes or re-emits (the rest at the next poll).
    poll_batch_records: int = 100_000
    # Metrics: samples kept per series, samples in the z-score baseline.
    metric_points_per_series: int = 512
    metric_baseline_points: int = 30
    max_exemplar_traces: int = 100_000
    # Upstream sources (input topic partitions, pipeline/worker/progress.py) that must report their
    # progress before the watermark may move: empty = trust the records' own times only.
    sources: tuple[str, ...] = ()
    # Row content.
    max_error_logs: int = 3
    excerpt_chars: int = 200


def from_settings(settings: object) -> CorrelateConfig:
    """The engine config for a `pipeline.config.Settings` (windows and bounds in seconds).

    Bad caps or sampling rates are refused here, before a worker starts: a zero cap would
    complete every trace on arrival, a rate outside [0, 1] has no meaning."""
    def ns(name: str, default: int) -> int:
        v = getattr(settings, name, None)
        return default if v is None else int(float(v) * S)

    base = CorrelateConfig()
    cfg = CorrelateConfig(
        log_window_ns=ns("log_window_s", base.log_window_ns),
        metric_window_ns=ns("metric_window_s", base.metric_window_ns),
        inactivity_ns=ns("trace_inactivity_s", base.inactivity_ns),
        max_lateness_ns=ns("max_lateness_s", base.max_lateness_ns),
        max_skew_ns=ns("max_skew_s", base.max_skew_ns),
        skew_correction=bool(getattr(settings, "skew_correction", base.skew_correction)),
        max_traces=int(getattr(settings, "max_inflight_traces", base.max_traces)),
        max_records=int(getattr(settings, "max_buffered_records", base.max_records)),
        sample_rate=float(getattr(settings, "sample_rate", base.sample_rate)),
        slow_span_ns=ns("slow_span_s", base.slow_span_ns),
    )
    if cfg.max_traces < 1 or cfg.max_records < 1:
        raise ValueError("max_inflight_traces and max_buffered_records must be at least 1")
    if not 0.0 <= cfg.sample_rate <= 1.0:
        raise ValueError(f"sample_rate must lie in [0, 1], not {cfg.sample_rate}")
    if cfg.slow_span_ns < 0:
        raise ValueError("slow_span_s must not be negative")
    return cfg
