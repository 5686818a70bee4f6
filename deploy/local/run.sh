#!/usr/bin/env bash
# `make run`: the main job on this machine. Starts the local Kafka broker (unless one already runs), creates
# the topics, starts the case processor, streams simulated California jail traffic, and prints a live summary. Ctrl-C stops
# everything this script started, and nothing else. DT_BROKER_PORT, DT_CONTROLLER_PORT and DT_BROKER_HOME move
# the broker; DT_SIM_SPEED, DT_SIM_BACKFILL_DAYS and DT_SIM_SEED shape the simulated traffic; DT_WEB_PORT is the
# worker's metrics port and DT_PROMETHEUS_PORT Prometheus's (when installed). DT_SECURE=1 runs
# the broker secured (TLS on every listener from a local CA, SASL/SCRAM users, ACLs from deploy/access/roles.yaml;
# DT_MTLS_PORT, default 9094, takes client certificates instead) and every process as its principal, over TLS.
set -euo pipefail
cd "$(dirname "$0")/../.."
dt=.venv/bin/detainer-tracker

port=${DT_BROKER_PORT:-9092}
home=${DT_BROKER_HOME:-.local/broker}
broker=(--home "$home" --port "$port" --controller-port "${DT_CONTROLLER_PORT:-9093}")
export DT_BOOTSTRAP_SERVERS=${DT_BOOTSTRAP_SERVERS:-127.0.0.1:$port}
secure=${DT_SECURE:-0}

# as PRINCIPAL COMMAND...: run a command as that Kafka principal (secured), or as is (not secured)
as() {
  local who=$1; shift
  if [ "$secure" = 1 ]; then (set -a; . "$home/credentials/$who.env"; set +a; exec "$@"); else "$@"; fi
}

started_broker=0
children=()
cleanup() {
  trap - INT TERM EXIT
  trap '' PIPE  # the terminal or a pipe may be gone already; stopping must still happen
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_broker" = 1 ]; then
    $dt broker stop "${broker[@]}" >/dev/null && echo "stopped the broker" || echo "could not stop the broker: see $dt broker status"
  fi
}
# Ctrl-C (or a TERM) is how a run ends: it stops what was started and exits 0
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

if [ "$secure" = 1 ]; then start=(--secure --mtls-port "${DT_MTLS_PORT:-9094}"); else start=(); fi
out=$($dt broker start "${broker[@]}" "${start[@]}")
echo "$out"
case "$out" in *"already running"*) ;; *) started_broker=1 ;; esac
as admin $dt topics create | sed 's/^/  /'
if [ "$secure" = 1 ]; then
  as admin $dt acl apply | tail -1 | sed 's/^/  /'
  echo "  principals: jail (simulator), registrar, worker, dashboard, auditor (summary), federal; see $dt acl check"
fi
as registrar $dt agencies load deploy/agencies.yaml | tail -1 | sed 's/^/  agency registry: /'

mkdir -p .local
export DT_WEB_PORT=${DT_WEB_PORT:-6066}
# as a supervisor would: the worker started again when Kafka or the disk failed under it (it exits 75 then, having
# committed nothing more, and resumes from its last commit)
supervised() {
  local child rc started pause=2
  trap 'kill "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
  while true; do
    started=$SECONDS
    "$@" &
    child=$!
    wait "$child"
    rc=$?
    [ "$rc" = 75 ] || return "$rc"
    # a worker that ran a while starts again at once; one that keeps failing (a full disk) waits longer each time
    if [ $((SECONDS - started)) -ge 120 ]; then pause=2; else pause=$((pause * 2 > 60 ? 60 : pause * 2)); fi
    echo "$(date -u +%FT%TZ) the worker exited 75 (Kafka or the disk failed under it); starting it again in ${pause} s"
    sleep "$pause"
  done
}
supervised as worker $dt worker >>.local/worker.log 2>&1 &
children+=($!)
echo "case processor started (log .local/worker.log); metrics at http://127.0.0.1:$DT_WEB_PORT/metrics"

# Prometheus with our alert rules, scraping the worker (when the machine has it: `make test` installs it)
prom_port=${DT_PROMETHEUS_PORT:-9090}
if command -v prometheus >/dev/null 2>&1; then
  mkdir -p .local/prometheus
  sed -e "s|127.0.0.1:6066|127.0.0.1:$DT_WEB_PORT|" -e "s|^  - alerts.yml|  - $PWD/deploy/prometheus/alerts.yml|" \
    deploy/prometheus/prometheus.yml >.local/prometheus/prometheus.yml
  prometheus --config.file=.local/prometheus/prometheus.yml --storage.tsdb.path=.local/prometheus/data \
    --web.listen-address=127.0.0.1:$prom_port >.local/prometheus/prometheus.log 2>&1 &
  children+=($!)
  # the alerts page is /alerts, or /classic/alerts where the Prometheus has only its classic UI (Debian's)
  alerts=$(python3 - "http://127.0.0.1:$prom_port" <<'PY'
import sys, time, urllib.request
base = sys.argv[1]
for _ in range(40):
    for path in ("/alerts", "/classic/alerts"):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as page:
                if page.status == 200:
                    print(base + path)
                    sys.exit(0)
        except Exception:
            pass
    time.sleep(0.25)
print(base + "/alerts")
PY
)
  echo "Prometheus with the alert rules at http://127.0.0.1:$prom_port (alerts: $alerts; log .local/prometheus/prometheus.log)"
else
  echo "Prometheus is not installed (apt-get install prometheus); the metrics are still at the address above"
fi

speed=${DT_SIM_SPEED:-300}
backfill=${DT_SIM_BACKFILL_DAYS:-1}
catchup=${DT_SIM_CATCHUP_HOURS:-12}
# the simulation's place is kept beside the broker's data: a second run on the same broker goes on from where the
# last one stopped, with new events (a fresh broker folder starts a fresh simulation)
sim_state=$home/simulation.json
if [ -f "$sim_state" ]; then
  echo "resuming the simulation where the last run stopped ($sim_state), then real time"
else
  echo "simulating California jail traffic: ${backfill} day(s) of history at once, the last ${catchup} hour(s) at" \
    "${speed}x real time, then real time (no event is sent before its time)"
fi
as jail $dt simulate --start "now-${catchup}h" --backfill-days "$backfill" --speed "$speed" \
  --seed "${DT_SIM_SEED:-1}" --state "$sim_state" --quiet &
children+=($!)
echo "live summary every 5 s (Ctrl-C stops everything this command started):"
as auditor $dt watch --every 5 &
children+=($!)
wait "${children[@]}"
