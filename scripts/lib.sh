# Shared by scripts/serve and scripts/chat (sourced, not run): where things live, which ports,
# training when stale, and starting the action server. Every setting has one default, here.
# shellcheck shell=bash

RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
LOG_DIR=${LOG_DIR:-var/log}
# endpoints.yml reads these two from the environment.
export ACTION_ENDPOINT_URL=${ACTION_ENDPOINT_URL:-http://localhost:$ACTIONS_PORT/webhook}
export TRACKER_DATABASE_URL=${TRACKER_DATABASE_URL:-sqlite:///$PWD/var/tracker.sqlite3}
# A message may wait for a media worker (components/channels/nlu_offload.py) longer than Rasa's
# 60 s default lifetime of a conversation lock; an expired lock would let a later message overtake it.
export TICKET_LOCK_LIFETIME=${TICKET_LOCK_LIFETIME:-600}

say() { printf '[%s] %s\n' "${SCRIPT_NAME:-serve}" "$*" >&2; }

# Prints the newest model, training one first when any input is newer (or none exists).
model_or_train() {
  local latest inputs=(config.yml domain.yml data components)
  latest=$(ls -t models/*.tar.gz 2>/dev/null | head -n 1 || true)
  if [ -z "$latest" ] || [ -n "$(find "${inputs[@]}" -newer "$latest" -type f 2>/dev/null | head -n 1)" ]; then
    say "training the assistant (inputs changed since the last model; a few minutes)"
    mkdir -p "$LOG_DIR"
    if ! rasa train --quiet >"$LOG_DIR/train.log" 2>&1; then
      say "training failed; the end of $LOG_DIR/train.log:"; tail -n 30 "$LOG_DIR/train.log" >&2; return 1
    fi
    latest=$(ls -t models/*.tar.gz | head -n 1)
  fi
  echo "$latest"
}

# wait_until URL PID NAME LOG: polls URL until it answers, failing when the process PID dies.
wait_until() {
  local url=$1 pid=$2 name=$3 log=$4
  for _ in $(seq 1 600); do
    curl -fs "$url" >/dev/null 2>&1 && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$name failed to start; the end of $log:"; tail -n 30 "$log" >&2; return 1
    fi
    sleep 0.5
  done
  say "$name did not answer at $url within 5 minutes; see $log"; return 1
}

# Starts the rasa-sdk action server in the background; sets ACTIONS_PID.
start_action_server() {
  mkdir -p "$LOG_DIR"
  say "starting the action server on port $ACTIONS_PORT"
  python -m rasa_sdk --actions actions --port "$ACTIONS_PORT" >"$LOG_DIR/action-server.log" 2>&1 &
  ACTIONS_PID=$!
  wait_until "http://localhost:$ACTIONS_PORT/health" "$ACTIONS_PID" "the action server" "$LOG_DIR/action-server.log"
}
