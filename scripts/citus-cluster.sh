#!/usr/bin/env bash
# A three-node Citus cluster on this machine for tests and the benchmark: a coordinator and two workers,
# each its own PostgreSQL 15 cluster under DIR, on free loopback ports, with shared_preload_libraries =
# 'citus', the database created and `CREATE EXTENSION citus` run on every node, the workers registered.
#
#   bash scripts/citus-cluster.sh start DIR       # prints the coordinator's URL (also in DIR/url)
#   bash scripts/citus-cluster.sh stop DIR        # stops every node by its PID; DIR stays
#   bash scripts/citus-cluster.sh stop-node DIR worker1    # one node (the fault soak restarts a worker)
#   bash scripts/citus-cluster.sh start-node DIR worker1
#
# Needs the citus extension installed in PostgreSQL 15 (see CITUS_BUILD_SCRIPT in .ci/run).
# Environment: CITUS_DB (database name, default session_backend), CITUS_SHARD_COUNT (shards per
# distributed table, default 8: fewer shards keep the per-test TRUNCATE quick; production keeps Citus's
# default of 32). Durability settings stay PostgreSQL's defaults (fsync, synchronous_commit): the fault
# soak restarts a worker and counts acknowledged writes.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=${CITUS_DB:-session_backend}
SHARD_COUNT=${CITUS_SHARD_COUNT:-8}
NODES=(coordinator worker1 worker2)

usage() { echo "usage: $0 start|stop DIR | stop-node|start-node DIR NODE" >&2; exit 2; }
log() { printf '[citus-cluster] %s\n' "$*" >&2; }
[[ $# -ge 2 ]] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

# initdb and postgres refuse to run as root: run them as the postgres user then.
as_owner() {
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql_on() { # psql_on PORT DATABASE SQL
    "$PG_BIN/psql" "postgresql://postgres@127.0.0.1:$1/$2" -XtAq -v ON_ERROR_STOP=1 -c "$3"
}

start_node() { # start_node NAME: pg_ctl start, waiting until it accepts connections
    as_owner "$PG_BIN/pg_ctl" -D "$dir/$1" -l "$dir/$1.log" -w -t 60 start >/dev/null
}

stop_node() { # stop_node NAME: fast shutdown by the postmaster's PID, then wait for it to exit
    local pidfile="$dir/$1/postmaster.pid" pid
    [[ -f $pidfile ]] || return 0
    pid=$(head -1 "$pidfile")
    kill -INT "$pid" 2>/dev/null || return 0
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    log "$1 (pid $pid) did not stop in 60 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

case $action in
start)
    [[ -f $("$PG_BIN/pg_config" --pkglibdir)/citus.so ]] ||
        { log "citus is not installed in $("$PG_BIN/pg_config" --pkglibdir): run the Citus build script first"; exit 1; }
    [[ ! -e $dir/url ]] || { log "$dir already holds a cluster: stop it and use an empty directory"; exit 1; }
    if [[ $(id -u) == 0 ]]; then chown postgres "$dir"; fi
    declare -A port
    for node in "${NODES[@]}"; do
        port[$node]=$(free_port)
        as_owner "$PG_BIN/initdb" -D "$dir/$node" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$dir/$node/postgresql.conf" <<CONF
port = ${port[$node]}
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_preload_libraries = 'citus'
max_connections = 300
citus.shard_count = $SHARD_COUNT
CONF
        echo "${port[$node]}" >"$dir/$node.port"
        start_node "$node"
        psql_on "${port[$node]}" postgres "CREATE DATABASE \"$DB\"" >/dev/null
        psql_on "${port[$node]}" "$DB" "CREATE EXTENSION IF NOT EXISTS citus" >/dev/null
    done
    psql_on "${port[coordinator]}" "$DB" "SELECT citus_set_coordinator_host('127.0.0.1', ${port[coordinator]})" >/dev/null
    for node in worker1 worker2; do
        psql_on "${port[coordinator]}" "$DB" "SELECT citus_add_node('127.0.0.1', ${port[$node]})" >/dev/null
    done
    workers=$(psql_on "${port[coordinator]}" "$DB" "SELECT count(*) FROM citus_get_active_worker_nodes()")
    [[ $workers == 2 ]] || { log "expected 2 active workers, found $workers"; exit 1; }
    url="postgresql://postgres@127.0.0.1:${port[coordinator]}/$DB"
    echo "$url" >"$dir/url"
    log "coordinator on ${port[coordinator]}, workers on ${port[worker1]} and ${port[worker2]} (logs in $dir)"
    echo "$url"
    ;;
stop)
    for node in worker2 worker1 coordinator; do stop_node "$node"; done
    rm -f "$dir/url"
    ;;
stop-node)
    [[ $# -eq 3 ]] || usage
    stop_node "$3"
    ;;
start-node)
    [[ $# -eq 3 ]] || usage
    start_node "$3"
    ;;
*) usage ;;
esac
