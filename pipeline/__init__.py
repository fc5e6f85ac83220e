"""telecorr: correlate logs, metrics and trace spans, and rank root causes."""
