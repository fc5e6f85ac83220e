-- A TTL on every table, so `retention_days` bounds the whole store (before this, the trace
-- lookup and the clock offsets grew for ever). `trace_index` gets the ingestion time it lacked:
-- rows from its materialized view take now() by default and merge to the newest (max), so a
-- trace stays findable as long as its newest spans are kept. Changing `retention_days` later is
-- applied at every start by pipeline/store/retention.py, not by editing this file.

ALTER TABLE trace_index ADD COLUMN IF NOT EXISTS ingested_at SimpleAggregateFunction(max, DateTime) DEFAULT now();
ALTER TABLE trace_index MODIFY TTL ingested_at + INTERVAL {retention_days} DAY;
ALTER TABLE clock_offsets MODIFY TTL toDateTime(updated_at) + INTERVAL {retention_days} DAY;
