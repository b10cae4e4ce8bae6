#!/usr/bin/env bash
# Run a command with TEST_DATABASE_URL at the coordinator of a private three-node Citus cluster
# (scripts/citus-cluster.sh in a temporary directory), after `session-backend init-db --distributed`:
#   bash scripts/with-citus.sh make test
# The cluster is stopped and its directory removed when the command ends. Exit status: the command's.
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
chmod 0755 "$work" # the nodes run as the postgres user when this runs as root
cleanup() {
    bash "$here/citus-cluster.sh" stop "$work/cluster" || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

url=$(bash "$here/citus-cluster.sh" start "$work/cluster")
DATABASE_URL=$url "$here/../.venv/bin/session-backend" init-db --distributed >&2
status=0
TEST_DATABASE_URL=$url CITUS_CLUSTER_DIR=$work/cluster "$@" || status=$?
exit "$status"
