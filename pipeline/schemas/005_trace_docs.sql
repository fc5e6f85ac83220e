-- A trace's rows in one place, sorted by trace id, for the trace lookup (GET /v1/traces/{id}).
-- spans, correlated_spans and logs are sorted by service and minute, so a lookup there is
-- three reads, each decompressing a granule of every column it shows (~20 ms each in chDB);
-- here it is one primary-key read of four narrow columns. Each source row is kept as a JSON
-- array of the fields the API shows (pipeline/api/traces.py names them, in this order),
-- written by the materialized views below as the rows arrive; invalid UTF-8 is replaced so
-- every document parses. ReplacingMergeTree(version): a re-emitted correlated span replaces
-- its older version, a replayed raw row collapses into its twin (readers keep the newest
-- version themselves, so unmerged duplicates are harmless). Small granules: a trace is a few
-- dozen rows. Partitioned by ingest day, the TTL's clock, so expired days drop whole.

CREATE TABLE IF NOT EXISTS trace_docs
(
    trace_id     String,
    kind         Enum8('span' = 1, 'correlated' = 2, 'log' = 3),
    id           String,
    version      UInt64,
    doc          String CODEC(ZSTD(1)),
    ingested_at  DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(ingested_at)
ORDER BY (trace_id, kind, id)
TTL ingested_at + INTERVAL {retention_days} DAY
SETTINGS index_granularity = 1024;

-- (The documents are made in a subquery: an outer alias `kind` would shadow the column.)
CREATE MATERIALIZED VIEW IF NOT EXISTS trace_docs_spans_mv TO trace_docs AS
SELECT trace_id, 'span' AS kind, span_id AS id, toUInt64(0) AS version, ingested_at, doc
FROM (SELECT trace_id, span_id, ingested_at,
             toValidUTF8(toJSONString(tuple(parent_span_id, service, instance, host, name, kind, start_ns, end_ns,
                                            status_code, status_message, attributes, events))) AS doc
      FROM spans);

CREATE MATERIALIZED VIEW IF NOT EXISTS trace_docs_correlated_mv TO trace_docs AS
SELECT trace_id, 'correlated' AS kind, span_id AS id, version, ingested_at, doc
FROM (SELECT trace_id, span_id, version, ingested_at,
             toValidUTF8(toJSONString(tuple(parent_span_id, service, instance, host, name, kind, peer,
                                            service_version, start_ns, end_ns, clock_offset_ns, self_time_ns,
                                            status_code, status_message, is_error, own_error, error_sources,
                                            rule_ids, log_ids, metrics))) AS doc
      FROM correlated_spans);

CREATE MATERIALIZED VIEW IF NOT EXISTS trace_docs_logs_mv TO trace_docs AS
SELECT trace_id, 'log' AS kind, id, toUInt64(0) AS version, ingested_at,
       toValidUTF8(toJSONString(tuple(time_ns, service, instance, host, span_id, severity_number, severity_text,
                                      body, attributes, format, parse_failed, rules))) AS doc
FROM logs WHERE trace_id != '';

-- Rows stored before this migration: the same documents, once (a repeat after a crash between
-- these statements and the migration record only adds twins).
INSERT INTO trace_docs (trace_id, kind, id, version, ingested_at, doc)
SELECT trace_id, 'span', span_id, 0, ingested_at,
       toValidUTF8(toJSONString(tuple(parent_span_id, service, instance, host, name, kind, start_ns, end_ns,
                                      status_code, status_message, attributes, events)))
FROM spans;

INSERT INTO trace_docs (trace_id, kind, id, version, ingested_at, doc)
SELECT trace_id, 'correlated', span_id, version, ingested_at,
       toValidUTF8(toJSONString(tuple(parent_span_id, service, instance, host, name, kind, peer, service_version,
                                      start_ns, end_ns, clock_offset_ns, self_time_ns, status_code,
                                      status_message, is_error, own_error, error_sources, rule_ids, log_ids,
                                      metrics)))
FROM correlated_spans;

INSERT INTO trace_docs (trace_id, kind, id, version, ingested_at, doc)
SELECT trace_id, 'log', id, 0, ingested_at,
       toValidUTF8(toJSONString(tuple(time_ns, service, instance, host, span_id, severity_number, severity_text,
                                      body, attributes, format, parse_failed, rules)))
FROM logs WHERE trace_id != ''
