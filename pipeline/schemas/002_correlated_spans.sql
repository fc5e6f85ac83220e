-- One row per span with the logs and metric readings that belong to it (pipeline/correlate).
-- ReplacingMergeTree(version): a trace amended by late data, or re-emitted once its clock-skew
-- table is decided, is written again with a higher version, which replaces the older rows.
-- The sort key uses only what never changes for a span (service, original start, ids), so
-- every version of a row shares one key. Corrected times are start_ns/end_ns.

CREATE TABLE IF NOT EXISTS correlated_spans
(
    id                   String,
    trace_id             String,
    span_id              String,
    parent_span_id       String,
    name                 LowCardinality(String),
    service              LowCardinality(String),
    instance             LowCardinality(String),
    host                 LowCardinality(String),
    kind                 UInt8,
    start_ns             Int64 CODEC(Delta, ZSTD(1)),
    end_ns               Int64 CODEC(Delta, ZSTD(1)),
    orig_start_ns        Int64 CODEC(Delta, ZSTD(1)),
    orig_end_ns          Int64 CODEC(Delta, ZSTD(1)),
    clock_offset_ns      Int64,
    duration_ns          Int64,
    self_time_ns         Int64,
    status_code          UInt8,
    status_message       String CODEC(ZSTD(1)),
    is_error             Bool,
    error_sources        Array(LowCardinality(String)),
    log_count            UInt32,
    log_severity_counts  Map(LowCardinality(String), UInt32),
    rule_ids             Array(LowCardinality(String)),
    error_logs           String CODEC(ZSTD(3)),
    log_ids              Array(String) CODEC(ZSTD(1)),
    metrics              Map(LowCardinality(String), Float64),
    metric_z             Map(LowCardinality(String), Float64),
    completed_early      Bool,
    late_amend           Bool,
    version              UInt64,
    trace_complete_ns    Int64,
    ingested_at          DateTime DEFAULT now(),
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(fromUnixTimestamp64Nano(orig_start_ns))
ORDER BY (service, intDiv(orig_start_ns, 60000000000), trace_id, span_id)
TTL ingested_at + INTERVAL {retention_days} DAY;
