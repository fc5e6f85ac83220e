-- The correlation engine's current per-host clock offsets (relative to the reference clock),
-- written as they change; `telecorr skew` reads the newest per host.

CREATE TABLE IF NOT EXISTS clock_offsets
(
    host          LowCardinality(String),
    offset_ns     Int64,
    watermark_ns  Int64,
    updated_at    DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY host;
