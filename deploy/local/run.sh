#!/usr/bin/env bash
# `make run`: the main job on this machine. Starts the local Kafka broker (unless one already runs), creates
# the topics, and streams simulated California jail traffic into them, showing what flows. Ctrl-C stops
# everything this script started, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
dt=.venv/bin/detainer-tracker

started_broker=0
children=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_broker" = 1 ]; then echo "stopping the broker"; $dt broker stop; fi
}
trap cleanup INT TERM EXIT

out=$($dt broker start)
echo "$out"
case "$out" in *"already running"*) ;; *) started_broker=1 ;; esac
$dt topics create | sed 's/^/  /'

speed=${DT_SIM_SPEED:-300}
backfill=${DT_SIM_BACKFILL_DAYS:-1}
echo "simulating California jail traffic: ${backfill} day(s) of history at once, then ${speed}x real time"
echo "(progress below; Ctrl-C stops everything this command started)"
$dt simulate --backfill-days "$backfill" --speed "$speed" --seed "${DT_SIM_SEED:-1}" &
children+=($!)
wait "${children[@]}"
