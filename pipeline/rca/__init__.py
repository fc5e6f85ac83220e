"""Root-cause ranking over what is stored: one trace, or a time window against its baseline."""

from pipeline.rca.trace_ranking import rank_trace
from pipeline.rca.window import WindowError, rank_window

__all__ = ["WindowError", "rank_trace", "rank_window"]
