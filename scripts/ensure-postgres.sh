#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on localhost:5432 with a `pitmaster`
# superuser (password `pitmaster`) for the tests: install Debian's postgresql
# and start its cluster when needed. Idempotent; prints the admin URL.
set -euo pipefail

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing Debian's postgresql"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -q "^$version main$"; then
    log "creating cluster $version/main"
    as_root pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    log "starting cluster $version/main"
    as_root pg_ctlcluster "$version" main start
fi

for _ in $(seq 1 60); do
    as_postgres pg_isready -q -h localhost -p 5432 && break
    sleep 0.5
done
as_postgres pg_isready -q -h localhost -p 5432 || { log "PostgreSQL did not come up"; exit 1; }

if ! as_postgres psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'pitmaster'" | grep -q 1; then
    as_postgres psql -q -c "CREATE ROLE pitmaster LOGIN SUPERUSER PASSWORD 'pitmaster'"
fi
echo "postgresql://pitmaster:pitmaster@localhost:5432/postgres"
