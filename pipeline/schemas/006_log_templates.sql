-- Log templates (pipeline/logs/templates.py): every log's message with its variables masked,
-- and a hash of that text as its id, the same on every worker and every replay.
ALTER TABLE logs ADD COLUMN IF NOT EXISTS template_id LowCardinality(String) DEFAULT '' AFTER rules;
ALTER TABLE logs ADD COLUMN IF NOT EXISTS template LowCardinality(String) DEFAULT '' AFTER template_id;

-- Lines per service, instance (pod), template and minute, kept by the materialized view below
-- as logs arrive: what the log-pattern evidence (pipeline/rca/logpatterns.py) compares, window
-- against baseline, without reading the logs themselves. `lines` counts distinct log ids (a
-- 64-bit hash of each id), so a replayed log, which comes back under the same id, counts once
-- however often it is written, in one insert or across several, before or after a merge; read
-- it with uniqExactMerge(lines) ... GROUP BY. Template text and highest severity ride along.
-- TTL follows ingestion, as on the raw tables.
CREATE TABLE IF NOT EXISTS log_template_minutes
(
    service          LowCardinality(String),
    instance         LowCardinality(String),
    template_id      LowCardinality(String),
    minute_ns        Int64 CODEC(DoubleDelta, ZSTD(1)),
    template         SimpleAggregateFunction(any, String),
    severity_number  SimpleAggregateFunction(max, UInt8),
    lines            AggregateFunction(uniqExact, UInt64),
    ingested_at      SimpleAggregateFunction(max, DateTime)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(fromUnixTimestamp64Nano(minute_ns))
ORDER BY (service, minute_ns, instance, template_id)
TTL ingested_at + INTERVAL {retention_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS log_template_minutes_mv TO log_template_minutes AS
SELECT service, instance, template_id, intDiv(time_ns, 60000000000) * 60000000000 AS minute_ns,
       any(template) AS template, max(severity_number) AS severity_number,
       uniqExactState(cityHash64(id)) AS lines, max(ingested_at) AS ingested_at
FROM logs
GROUP BY service, instance, template_id, minute_ns;

-- Logs stored before this migration have no template (''); their counts still tell each
-- instance's traffic. A repeat after a crash here adds nothing: the counts are of distinct ids.
INSERT INTO log_template_minutes
SELECT service, instance, template_id, intDiv(time_ns, 60000000000) * 60000000000 AS minute_ns,
       any(template), max(severity_number), uniqExactState(cityHash64(id)), max(ingested_at)
FROM logs
GROUP BY service, instance, template_id, minute_ns
