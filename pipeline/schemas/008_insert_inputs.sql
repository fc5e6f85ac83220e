-- Where the writer's JSON inserts land: for each large table (spans, logs, metrics,
-- correlated_spans), a Null-engine twin with the same columns in the same order, but every
-- LowCardinality(String) as plain String, and a materialized view that pushes each inserted
-- block into the real table (and so on into the views fed by it). Why: ClickHouse parses a
-- text value into a LowCardinality column one value at a time (a temporary column and a
-- dictionary insert per value, about 0.2 µs each), which was 60-70 % of the cost of parsing
-- an insert; the view casts whole parsed String columns to LowCardinality in one vectorised
-- pass instead. Measured on chDB, 20,000-row inserts into the real tables with their views,
-- merges stopped, CPU per row, old path -> twin: spans 6.5 -> 5.2 µs, logs 9.6 -> 6.8,
-- metrics 4.1 (Native) -> 1.7, correlated_spans 7.0 (Native) -> 5.0
-- (benchmarks/store.py --profile; benchmarks/RESULTS.md `## store`).
-- Nothing is stored in a twin (Null engine); an insert returns once the view has written the
-- real table, and fails as that write fails. A column added to a table later must be added to
-- its twin in the same migration (tests/test_store_tables.py checks that they match).

CREATE TABLE IF NOT EXISTS spans_input
(
    id              String,
    trace_id        String,
    span_id         String,
    parent_span_id  String,
    name            String,
    kind            UInt8,
    service         String,
    instance        String,
    host            String,
    start_ns        Int64,
    end_ns          Int64,
    status_code     UInt8,
    status_message  String,
    attributes      Map(String, String),
    resource        Map(String, String),
    events          String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS spans_input_mv TO spans AS SELECT * FROM spans_input;

CREATE TABLE IF NOT EXISTS logs_input
(
    id               String,
    time_ns          Int64,
    observed_ns      Int64,
    service          String,
    instance         String,
    host             String,
    trace_id         String,
    span_id          String,
    severity_number  UInt8,
    severity_text    String,
    body             String,
    attributes       Map(String, String),
    resource         Map(String, String),
    format           String,
    parse_failed     Bool,
    rules            Array(String),
    template_id      String,
    template         String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS logs_input_mv TO logs AS SELECT * FROM logs_input;

CREATE TABLE IF NOT EXISTS metrics_input
(
    id                   String,
    name                 String,
    type                 String,
    unit                 String,
    service              String,
    instance             String,
    host                 String,
    time_ns              Int64,
    start_time_ns        Int64,
    value                Float64,
    attributes           Map(String, String),
    resource             Map(String, String),
    is_monotonic         Bool,
    temporality          UInt8,
    count                UInt64,
    sum                  Float64,
    min                  Nullable(Float64),
    max                  Nullable(Float64),
    bucket_bounds        Array(Float64),
    bucket_counts        Array(UInt64),
    exp_scale            Int32,
    exp_zero_count       UInt64,
    exp_positive_offset  Int32,
    exp_positive_counts  Array(UInt64),
    exp_negative_offset  Int32,
    exp_negative_counts  Array(UInt64),
    quantiles            Array(Tuple(Float64, Float64)),
    exemplar_times       Array(Int64),
    exemplar_values      Array(Float64),
    exemplar_trace_ids   Array(String),
    exemplar_span_ids    Array(String)
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_input_mv TO metrics AS SELECT * FROM metrics_input;

CREATE TABLE IF NOT EXISTS correlated_spans_input
(
    id                   String,
    trace_id             String,
    span_id              String,
    parent_span_id       String,
    name                 String,
    service              String,
    instance             String,
    host                 String,
    kind                 UInt8,
    peer                 String,
    service_version      String,
    start_ns             Int64,
    end_ns               Int64,
    orig_start_ns        Int64,
    orig_end_ns          Int64,
    clock_offset_ns      Int64,
    duration_ns          Int64,
    self_time_ns         Int64,
    status_code          UInt8,
    status_message       String,
    is_error             Bool,
    own_error            Bool,
    error_sources        Array(String),
    log_count            UInt32,
    log_severity_counts  Map(String, UInt32),
    rule_ids             Array(String),
    error_logs           String,
    log_ids              Array(String),
    metrics              Map(String, Float64),
    metric_z             Map(String, Float64),
    completed_early      Bool,
    late_amend           Bool,
    version              UInt64,
    trace_complete_ns    Int64
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS correlated_spans_input_mv TO correlated_spans AS
SELECT * FROM correlated_spans_input
