#!/usr/bin/env bash
# Entrypoint of the CI-only postgres:15 stand-in: the subset of the official image's
# behaviour that compose files rely on. On the first start (empty PGDATA) it runs
# initdb as POSTGRES_USER with POSTGRES_PASSWORD, creates POSTGRES_DB, runs every
# *.sh / *.sql / *.sql.gz in /docker-entrypoint-initdb.d with ON_ERROR_STOP, then
# execs the server. Later starts keep the existing data and skip the init scripts.
set -Eeuo pipefail

if [[ ${1:0:1} == - ]]; then
    set -- postgres "$@"
fi

if [[ $1 == postgres && $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

run_init_file() {
    local f=$1
    case $f in
        *.sh)
            if [[ -x $f ]]; then "$f"; else . "$f"; fi ;;
        *.sql)
            psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
        *.sql.gz)
            gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" ;;
        *)
            echo "$0: ignoring $f" ;;
    esac
}

if [[ $1 == postgres && ! -s $PGDATA/PG_VERSION ]]; then
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [[ -z ${POSTGRES_PASSWORD:-} && $auth != trust ]]; then
        echo "$0: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host="$auth" --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    # A private server (socket only) for the init scripts.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    export PGPASSWORD=${POSTGRES_PASSWORD:-}
    if [[ $POSTGRES_DB != postgres ]]; then
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
            -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        echo "$0: running $f"
        run_init_file "$f"
    done
    shopt -u nullglob
    unset PGPASSWORD
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "$0: init process complete; ready for start up"
fi

exec "$@"
