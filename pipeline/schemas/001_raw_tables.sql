-- Raw telemetry as received (after decoding and log parsing). Every table is a
-- ReplacingMergeTree keyed by a deterministic id, so a replay after a crash collapses into
-- the rows already written; read with FINAL (or argMax) for exact counts.
-- Times are Unix nanoseconds (Int64). TTL follows ingestion time, so replaying old telemetry
-- is not deleted on arrival. {retention_days} is filled from the settings.

CREATE TABLE IF NOT EXISTS spans
(
    id              String,
    trace_id        String,
    span_id         String,
    parent_span_id  String,
    name            LowCardinality(String),
    kind            UInt8,
    service         LowCardinality(String),
    instance        LowCardinality(String),
    host            LowCardinality(String),
    start_ns        Int64 CODEC(Delta, ZSTD(1)),
    end_ns          Int64 CODEC(Delta, ZSTD(1)),
    status_code     UInt8,
    status_message  String CODEC(ZSTD(1)),
    attributes      Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource        Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    events          String CODEC(ZSTD(1)),
    ingested_at     DateTime DEFAULT now(),
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(fromUnixTimestamp64Nano(start_ns))
ORDER BY (service, intDiv(start_ns, 60000000000), trace_id, span_id)
TTL ingested_at + INTERVAL {retention_days} DAY;

CREATE TABLE IF NOT EXISTS logs
(
    id               String,
    time_ns          Int64 CODEC(Delta, ZSTD(1)),
    observed_ns      Int64 CODEC(Delta, ZSTD(1)),
    service          LowCardinality(String),
    instance         LowCardinality(String),
    host             LowCardinality(String),
    trace_id         String,
    span_id          String,
    severity_number  UInt8,
    severity_text    LowCardinality(String),
    body             String CODEC(ZSTD(3)),
    attributes       Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource         Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    format           LowCardinality(String),
    parse_failed     Bool,
    rules            Array(LowCardinality(String)),
    ingested_at      DateTime DEFAULT now(),
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body lower(body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(fromUnixTimestamp64Nano(time_ns))
ORDER BY (service, intDiv(time_ns, 60000000000), id)
TTL ingested_at + INTERVAL {retention_days} DAY;

CREATE TABLE IF NOT EXISTS metrics
(
    id                   String,
    name                 LowCardinality(String),
    type                 LowCardinality(String),
    unit                 LowCardinality(String),
    service              LowCardinality(String),
    instance             LowCardinality(String),
    host                 LowCardinality(String),
    time_ns              Int64 CODEC(DoubleDelta, ZSTD(1)),
    start_time_ns        Int64 CODEC(DoubleDelta, ZSTD(1)),
    value                Float64 CODEC(Gorilla, ZSTD(1)),
    attributes           Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    is_monotonic         Bool,
    temporality          UInt8,
    count                UInt64,
    sum                  Float64 CODEC(Gorilla, ZSTD(1)),
    min                  Nullable(Float64),
    max                  Nullable(Float64),
    bucket_bounds        Array(Float64) CODEC(ZSTD(1)),
    bucket_counts        Array(UInt64) CODEC(ZSTD(1)),
    exp_scale            Int32,
    exp_zero_count       UInt64,
    exp_positive_offset  Int32,
    exp_positive_counts  Array(UInt64) CODEC(ZSTD(1)),
    exp_negative_offset  Int32,
    exp_negative_counts  Array(UInt64) CODEC(ZSTD(1)),
    quantiles            Array(Tuple(Float64, Float64)),
    exemplar_times       Array(Int64),
    exemplar_values      Array(Float64),
    exemplar_trace_ids   Array(String),
    exemplar_span_ids    Array(String),
    ingested_at          DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(fromUnixTimestamp64Nano(time_ns))
ORDER BY (service, name, instance, time_ns, id)
TTL ingested_at + INTERVAL {retention_days} DAY;

-- Trace lookup: trace_id -> [start, end], kept up to date by a materialized view, so a trace
-- fetch first reads one primary-key range here and then only the spans partitions it needs.
-- min/max are idempotent, so replayed spans do not disturb it.
CREATE TABLE IF NOT EXISTS trace_index
(
    trace_id  String,
    start_ns  SimpleAggregateFunction(min, Int64),
    end_ns    SimpleAggregateFunction(max, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY trace_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS trace_index_mv TO trace_index AS
SELECT trace_id, min(start_ns) AS start_ns, max(end_ns) AS end_ns
FROM spans GROUP BY trace_id;

-- Everything that went to the dead-letter topic, so `telecorr sql` can show it.
CREATE TABLE IF NOT EXISTS dlq
(
    topic       LowCardinality(String),
    partition   Int32,
    offset      Int64,
    reason      String,
    size        UInt64,
    preview     String,
    ingested_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset, reason)
TTL ingested_at + INTERVAL {retention_days} DAY;
