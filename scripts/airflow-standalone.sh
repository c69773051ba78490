#!/usr/bin/env bash
# Airflow 3 standalone for the lienthong DAGs (dev/demo only: SQLite + LocalExecutor), on 127.0.0.1.
#
#   scripts/airflow-standalone.sh [run]    run in the foreground (what `make airflow` does); Ctrl-C stops it
#   scripts/airflow-standalone.sh start    run in the background, wait until healthy, print the URL
#   scripts/airflow-standalone.sh stop     stop a background run (SIGINT, then SIGTERM to its process group)
#
# Environment: AIRFLOW_HOME (default var/airflow-home), AIRFLOW_PORT (8080), AIRFLOW_PARALLELISM (4),
# LIENTHONG_DATA_DIR (default var; the DAGs' work folder is $LIENTHONG_DATA_DIR/airflow),
# LIENTHONG_AIRFLOW_ISOLATE=1 to run inside a private network namespace (see below); the settings of
# scripts/airflow-local.env (executor, scheduler idle sleep) for each variable not already set.
#
# Caveat: the api-server listens on 127.0.0.1, but Airflow's serve-logs servers (8793 for the worker,
# 8794 for the triggerer) always bind all interfaces (host "" is hard-coded in Airflow 3.3). Firewall
# those ports, or set LIENTHONG_AIRFLOW_ISOLATE=1, which runs everything inside `unshare -n` with only
# a loopback interface — nothing outside can reach it, but it cannot reach a hub outside either and
# the UI is reachable only from inside that namespace, so use it for checks, not for real exchanges.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/var/airflow-home}"
PORT="${AIRFLOW_PORT:-8080}"
PIDFILE="$AIRFLOW_HOME/standalone.pid"
LOG="$AIRFLOW_HOME/standalone.log"
PY="$ROOT/.venv/bin/python"

stop() {
  [ -f "$PIDFILE" ] || { echo "airflow-standalone: not running (no $PIDFILE)"; return 0; }
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true          # standalone stops its components on SIGINT (~2 s)
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  if kill -0 -- "-$pid" 2>/dev/null; then          # anything left in its process group
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "airflow-standalone: stopped (process group $pid)"
}

case "${1:-run}" in
  stop) stop; exit 0 ;;
  run|start) ;;
  *) echo "usage: $0 [run|start|stop]" >&2; exit 2 ;;
esac

[ -x "$ROOT/.venv/bin/airflow" ] || { echo "airflow-standalone: no .venv/bin/airflow; run make setup" >&2; exit 1; }
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "airflow-standalone: already running (pid $(cat "$PIDFILE")); '$0 stop' first" >&2; exit 1
fi
if "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)) != 0)"; then
  echo "airflow-standalone: 127.0.0.1:$PORT is in use; set AIRFLOW_PORT" >&2; exit 1
fi

mkdir -p "$AIRFLOW_HOME"
export PATH="$ROOT/.venv/bin:$PATH"                 # standalone starts its components as `airflow …` from PATH
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW_PARALLELISM:-4}"   # the default 32 forks 32 workers
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
export LIENTHONG_DATA_DIR="${LIENTHONG_DATA_DIR:-$ROOT/var}"
while IFS='=' read -r name value; do                # the exchange DAGs' LocalExecutor settings, unless set
  case "$name" in ''|'#'*) continue ;; esac
  [ -n "${!name+x}" ] || export "$name=$value"
done < "$ROOT/scripts/airflow-local.env"

# exec with SIGINT restored: background jobs of a non-interactive shell ignore it, and SIGINT is
# what makes standalone stop its components cleanly.
CMD=("$PY" -c 'import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp("airflow", ["airflow", "standalone"])')
if [ "${LIENTHONG_AIRFLOW_ISOLATE:-0}" = 1 ]; then
  [ "${1:-run}" = run ] || { echo "airflow-standalone: LIENTHONG_AIRFLOW_ISOLATE=1 works with 'run' only" >&2; exit 2; }
  CMD=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${CMD[@]}")
fi

echo "airflow-standalone: AIRFLOW_HOME=$AIRFLOW_HOME, DAGs from $ROOT/dags, http://127.0.0.1:$PORT, parallelism $AIRFLOW__CORE__PARALLELISM"
echo "airflow-standalone: the admin password is written to $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"

# Its own session either way: a terminal's Ctrl-C reaches every process of the foreground group, and
# SIGINT to all of Airflow's components at once leaves the scheduler, triggerer and workers running;
# SIGINT to the standalone process alone stops them all in a few seconds. `stop` does exactly that.
if [ "${1:-run}" = run ]; then
  setsid "${CMD[@]}" < /dev/null &
  echo $! > "$PIDFILE"
  trap 'echo; echo "airflow-standalone: stopping"; stop; exit 130' INT TERM HUP
  wait "$(cat "$PIDFILE")" || true
  rm -f "$PIDFILE"
  exit 0
fi

setsid "${CMD[@]}" > "$LOG" 2>&1 < /dev/null &
echo $! > "$PIDFILE"
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/api/v2/monitor/health" 2>/dev/null | grep -q '"scheduler"'; then
    echo "airflow-standalone: healthy at http://127.0.0.1:$PORT (log $LOG); stop with: $0 stop"
    exit 0
  fi
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "airflow-standalone: exited; see $LOG" >&2; rm -f "$PIDFILE"; exit 1; }
  sleep 1
done
echo "airflow-standalone: not healthy after 120 s; see $LOG (stopping it)" >&2
stop
exit 1
