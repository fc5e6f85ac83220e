#!/usr/bin/env bash
# Stop the local broker that up.sh started on $KAFKA_PORT (default 9092), by its PID file.
# Idempotent: nothing to stop is not an error.
set -euo pipefail
port=${KAFKA_PORT:-9092}
state=${TELECORR_STATE_DIR:-.telecorr}
pidfile="$state/tansu-$port.pid"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "broker stopped (pid $pid)"
  else
    echo "broker was not running (stale pid $pid)"
  fi
  rm -f "$pidfile"
else
  echo "no broker started by up.sh on port $port"
fi
