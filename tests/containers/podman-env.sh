# Sourced by tests/containers/build.sh and scripts/container-test.sh.
# Rootful podman on the CI machines needs three settings that we keep out of /etc:
# root cannot raise ulimits beyond the hard limit, crun refuses the host's hybrid
# cgroups, and there is no journald to log events to.

# podman_env DIR: write DIR/containers.conf and point CONTAINERS_CONF at it.
podman_env() {
    local dir=$1 nofile
    nofile=$(ulimit -Hn)
    [[ $nofile == unlimited ]] && nofile=1048576
    cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    export CONTAINERS_CONF=$dir/containers.conf
}
