#!/usr/bin/env bash
# Stop the local broker that up.sh started on $KAFKA_PORT (default 9092), by its PID file.
# Idempotent: nothing to stop is not an error. Wrapper of `python -m pipeline.kafka.broker down`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m pipeline.kafka.broker down "$@"
