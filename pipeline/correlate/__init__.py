"""correlate stage: windowed join of spans, logs and metrics on trace id.

`Correlator` is the engine (batches in, `CorrelatedSpan` rows out, no I/O);
`CorrelateConfig` / `from_settings` configure it.
"""

from pipeline.correlate.engine_config import CorrelateConfig, from_settings
from pipeline.correlate.engine import Correlator

__all__ = ["CorrelateConfig", "Correlator", "from_settings"]
