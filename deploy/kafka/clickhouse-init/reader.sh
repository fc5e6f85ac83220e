#!/bin/bash
# Runs once, when the ClickHouse container initialises its data directory: creates the
# API's read-only user. SELECT on telecorr's database only; readonly=2 refuses every write
# and DDL but lets each query carry its own limits (the API sets them per query).
set -euo pipefail
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE USER IF NOT EXISTS reader IDENTIFIED WITH sha256_password BY '${CLICKHOUSE_READER_PASSWORD}'
    SETTINGS readonly = 2;
GRANT SELECT ON ${CLICKHOUSE_DB}.* TO reader;
SQL
