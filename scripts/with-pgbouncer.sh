#!/usr/bin/env bash
# Run a command with TEST_DATABASE_URL pointing through a private PgBouncer in transaction
# pooling mode, the way production deployments put PgBouncer between many gunicorn
# workers and PostgreSQL:
#   TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/session_backend_test \
#       bash scripts/with-pgbouncer.sh make test
# TEST_DATABASE_URL names the real PostgreSQL (default: the local server on 127.0.0.1:5432,
# user postgres, trust auth, database session_backend_test, created when missing).
# PgBouncer gets its own config, log and port under a temporary directory, forwards every
# database name to that server (so test fixtures may create databases of their own), and
# is stopped when the command ends. Installs Debian's pgbouncer package when missing.
# Exit status: the command's.
set -euo pipefail

[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

log() { printf '[with-pgbouncer] %s\n' "$*" >&2; }

if ! command -v pgbouncer >/dev/null; then
    log "installing pgbouncer (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q pgbouncer >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; }
fi

upstream=${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/session_backend_test}

work=$(mktemp -d)
bouncer_pid=""
cleanup() {
    if [[ -n $bouncer_pid ]] && kill -0 "$bouncer_pid" 2>/dev/null; then
        kill -INT "$bouncer_pid" 2>/dev/null || true # SIGINT: PgBouncer's immediate shutdown
        for _ in $(seq 50); do kill -0 "$bouncer_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$bouncer_pid" 2>/dev/null || true
        wait "$bouncer_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Split the URL once, in Python (URL-decoding included), into shell-safe assignments.
eval "$(python3 - "$upstream" <<'PY'
import shlex, socket, sys
from urllib.parse import unquote, urlsplit, urlunsplit

url = urlsplit(sys.argv[1])
if not url.scheme.startswith(("postgresql", "postgres")):
    sys.exit(f"with-pgbouncer: not a PostgreSQL URL: {sys.argv[1]}")
with socket.socket() as s:  # a free port on loopback for PgBouncer
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
user = unquote(url.username or "postgres")
password = unquote(url.password or "")
auth = url.netloc.rpartition("@")[0]
bounced = urlunsplit((url.scheme, f"{auth + '@' if auth else ''}127.0.0.1:{port}", url.path, url.query, ""))
direct = urlunsplit(("postgresql", url.netloc, url.path, url.query, ""))
values = {
    "pg_host": url.hostname or "127.0.0.1",
    "pg_port": str(url.port or 5432),
    "pg_user": user,
    "pg_password": password,
    "pg_db": unquote(url.path.lstrip("/")) or user,
    "bouncer_port": str(port),
    "bounced_url": bounced,
    "bounced_plain": urlunsplit(("postgresql",) + urlsplit(bounced)[1:]),
    "direct_url": direct,
}
for k, v in values.items():
    print(f"{k}={shlex.quote(v)}")
PY
)"

# The database must exist before anything connects to it through PgBouncer.
if command -v psql >/dev/null; then
    maintenance_url=${direct_url%%\?*}
    maintenance_url="${maintenance_url%/*}/postgres"
    # (psql interpolates :'db' only in scripts read from stdin, not in -c.)
    exists=$(PGCONNECT_TIMEOUT=10 psql "$maintenance_url" -XtAq -v db="$pg_db" \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'db'" 2>/dev/null || true)
    if [[ -z $exists ]]; then
        # Ignore a race with a concurrent creator; the connection check below is decisive.
        PGCONNECT_TIMEOUT=10 psql "$maintenance_url" -Xq -v ON_ERROR_STOP=1 -v db="$pg_db" \
            <<<'CREATE DATABASE :"db"' >/dev/null 2>&1 && log "created database $pg_db" || true
    fi
fi

# Trust auth between the client and PgBouncer (the upstream is trust-auth local PostgreSQL,
# or its password goes into the forwarding rule).
server_conn="host=$pg_host port=$pg_port user=$pg_user"
if [[ -n $pg_password ]]; then
    server_conn+=" password=$pg_password"
fi
printf '"%s" "%s"\n' "$pg_user" "$pg_password" >"$work/userlist.txt"
cat >"$work/pgbouncer.ini" <<INI
[databases]
* = $server_conn

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
reserve_pool_size = 5
server_lifetime = 600
server_idle_timeout = 60
ignore_startup_parameters = extra_float_digits
admin_users = $pg_user
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
chmod 0600 "$work/userlist.txt"

# PgBouncer refuses to run as root: drop to the postgres (or nobody) user.
run_as=()
if [[ $(id -u) == 0 ]]; then
    run_user=postgres
    id "$run_user" >/dev/null 2>&1 || run_user=nobody
    chown -R "$run_user" "$work"
    run_as=(-u "$run_user")
fi
pgbouncer "${run_as[@]}" "$work/pgbouncer.ini" >"$work/stdout.log" 2>&1 &
bouncer_pid=$!

for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$bouncer_port") 2>/dev/null; then break; fi
    kill -0 "$bouncer_pid" 2>/dev/null || { cat "$work/stdout.log" >&2; log "pgbouncer exited"; exit 1; }
    sleep 0.1
done
PGCONNECT_TIMEOUT=10 psql "$bounced_plain" -XtAq -c 'SELECT 1' >/dev/null ||
    { tail -20 "$work/pgbouncer.log" >&2; log "cannot connect through pgbouncer"; exit 1; }
log "pgbouncer $(pgbouncer --version | head -1 | cut -d' ' -f2) (transaction pooling) on 127.0.0.1:$bouncer_port -> $pg_host:$pg_port"

status=0
TEST_DATABASE_URL=$bounced_url PGBOUNCER_URL=$bounced_url "$@" || status=$?
# Proof that the traffic went through PgBouncer: its own totals from the admin console.
totals=$(psql "postgresql://$pg_user@127.0.0.1:$bouncer_port/pgbouncer" -XtAF= -c 'SHOW TOTALS' 2>/dev/null |
    grep -E '^total_(xact|query)_count=' | tr '\n' ' ' || true)
log "pgbouncer totals: ${totals:-unavailable}"
if grep -qiE 'ERROR|WARNING' "$work/pgbouncer.log" 2>/dev/null; then
    log "pgbouncer reported (last lines of its log):"
    grep -iE 'ERROR|WARNING' "$work/pgbouncer.log" | tail -20 >&2
fi
exit "$status"
