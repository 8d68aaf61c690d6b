#!/usr/bin/env bash
# A local Prefect server for nianbao, on loopback. SQLite by default (under PREFECT_HOME);
# with --postgres, a throwaway PostgreSQL cluster in infra/.pgdata started first (Debian's
# postgresql; as root it runs as the postgres user).
#   infra/prefect-server.sh [--postgres] [PORT]
# Then: export PREFECT_API_URL=http://127.0.0.1:${PORT:-4200}/api ; uv run nianbao serve
set -euo pipefail
cd "$(dirname "$0")/.."
postgres=false
if [ "${1:-}" = "--postgres" ]; then postgres=true; shift; fi
port=${1:-4200}
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
if $postgres; then
  pgport=${PGPORT:-55432}
  eval "$(uv run --locked python -m infra.postgres start --dir infra/.pgdata --port "$pgport")"
  export PREFECT_SERVER_DATABASE_CONNECTION_URL
fi
exec uv run --locked prefect server start --host 127.0.0.1 --port "$port"
