#!/usr/bin/env bash
# Build Pulse's image, start the compose stack (PostgreSQL + `pulse serve`), check it from
# outside with deploy/check_stack.py (/healthz, /readyz, /metrics, signed /health), and
# take it down again (volumes included).
#
#   deploy/check-stack.sh          # exit 0: every check passed; 1: a check failed;
#                                  # 3: no container engine on this machine (nothing ran)
#
# Engine: podman with podman-compose (Debian: apt-get install podman podman-compose), or
# docker with its compose plugin, whichever answers first. Images: where public images
# cannot be pulled (PULSE_BASE unset), the base and PostgreSQL are built from Debian
# packages (deploy/build-base.sh, deploy/postgres/) when not already present. Set
# PULSE_BASE=python:3.11-slim POSTGRES_IMAGE=postgres:15 to use the public ones.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOY=$PWD/deploy
NO_ENGINE=3

engine_works() { command -v "$1" >/dev/null 2>&1 && "$1" info >/dev/null 2>&1; }

if command -v podman >/dev/null 2>&1; then
  # Hybrid cgroups (v1 with v2 beside it, as on the sandbox of docs/deploy.md): crun
  # refuses them, so runc and limits the host allows (deploy/containers.conf). A machine
  # with its own CONTAINERS_CONF keeps it.
  if [ -z "${CONTAINERS_CONF:-}" ] && [ -d /sys/fs/cgroup/unified ] && command -v runc >/dev/null 2>&1; then
    export CONTAINERS_CONF=$DEPLOY/containers.conf
  fi
fi
if engine_works podman && command -v podman-compose >/dev/null 2>&1; then
  ENGINE=podman; COMPOSE=(podman-compose)
elif engine_works docker && docker compose version >/dev/null 2>&1; then
  ENGINE=docker; COMPOSE=(docker compose)
else
  echo "skipped: no container engine (podman with podman-compose, or docker with compose, that answers \`info\`)"
  exit $NO_ENGINE
fi
echo "engine: $ENGINE ($("$ENGINE" --version)), compose: ${COMPOSE[*]}"

if [ -z "${PULSE_BASE:-}" ]; then
  PULSE_BASE=localhost/pulse-base
  "$ENGINE" image exists "$PULSE_BASE" 2>/dev/null || "$ENGINE" image inspect "$PULSE_BASE" >/dev/null 2>&1 \
    || ENGINE=$ENGINE "$DEPLOY/build-base.sh"
fi
if [ -z "${POSTGRES_IMAGE:-}" ]; then
  POSTGRES_IMAGE=localhost/pulse-postgres
  "$ENGINE" image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1 \
    || "$ENGINE" build --build-arg BASE="$PULSE_BASE" -t "$POSTGRES_IMAGE" "$DEPLOY/postgres"
fi
export PULSE_BASE POSTGRES_IMAGE
export PULSE_IMAGE=localhost/pulse:check
echo "building $PULSE_IMAGE on $PULSE_BASE"
"$ENGINE" build --build-arg BASE="$PULSE_BASE" -t "$PULSE_IMAGE" .

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])'; }
export PULSE_PORT=${PULSE_PORT:-$(free_port)}
LISTEN_PORT=$(free_port)
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
PULSE_ENV_FILE=$(mktemp /tmp/pulse-check.env.XXXXXX)
export PULSE_ENV_FILE
cat > "$PULSE_ENV_FILE" <<ENV
POSTGRES_USER=pulse
POSTGRES_PASSWORD=$PASSWORD
POSTGRES_DB=pulse
DATABASE_URL=postgresql+psycopg://pulse:$PASSWORD@postgres:5432/pulse
SLACK_BOT_TOKEN=xoxb-check-not-a-real-token
SLACK_SIGNING_SECRET=$SECRET
SLACK_API_URL=http://host.containers.internal:$LISTEN_PORT/api/
PULSE_LOG_FORMAT=json
PULSE_LOG_LEVEL=INFO
ENV
if [ "$ENGINE" = docker ]; then  # docker's name for the host
  sed -i "s#host.containers.internal#host.docker.internal#" "$PULSE_ENV_FILE"
fi
PROJECT=pulse-check
CONTAINER=${PROJECT}_pulse_1
[ "$ENGINE" = docker ] && CONTAINER=${PROJECT}-pulse-1
FILES=(-f "$DEPLOY/compose.yaml")
if [ "$ENGINE" = docker ]; then  # on Linux, docker names the host only when asked to
  OVERRIDE=$(mktemp /tmp/pulse-check.override.XXXXXX.yaml)
  printf 'services:\n  pulse:\n    extra_hosts: ["host.docker.internal:host-gateway"]\n' > "$OVERRIDE"
  FILES+=(-f "$OVERRIDE")
fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" "${FILES[@]}" "$@"; }
COMPOSE_LOG=$(mktemp /tmp/pulse-check.compose.XXXXXX)
cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    echo "--- compose ---"; tail -n 30 "$COMPOSE_LOG"
    echo "--- logs of the stack ---"; "$ENGINE" logs --tail 60 "$CONTAINER" 2>&1 || true
  fi
  compose down -v >>"$COMPOSE_LOG" 2>&1 || true
  rm -f "$PULSE_ENV_FILE" "$COMPOSE_LOG" "${OVERRIDE:-}"
  exit $status
}
trap cleanup EXIT
echo "starting the stack (project $PROJECT, port $PULSE_PORT)"
compose up -d >"$COMPOSE_LOG" 2>&1
CALLBACK=host.containers.internal
[ "$ENGINE" = docker ] && CALLBACK=host.docker.internal
python3 "$DEPLOY/check_stack.py" --url "http://127.0.0.1:$PULSE_PORT" --secret "$SECRET" \
  --listen-port "$LISTEN_PORT" --callback-host "$CALLBACK" --wait "${CHECK_WAIT:-180}"

# Exactly one scheduler holds the leader lock, and SIGTERM releases it.
"$ENGINE" stop -t 40 "$CONTAINER" >/dev/null
LOGS=$("$ENGINE" logs "$CONTAINER" 2>&1)
leaders=$(grep -c "now runs Pulse's scheduled jobs" <<<"$LOGS" || true)
released=$(grep -c "leader lock released" <<<"$LOGS" || true)
if [ "$leaders" -eq 1 ] && [ "$released" -eq 1 ]; then
  echo "ok   one scheduler of ${PULSE_WORKERS:-2} workers took the leader lock; SIGTERM released it"
else
  echo "FAIL leader lock: $leaders process(es) took it, $released released it (logs of $CONTAINER)"
  exit 1
fi
