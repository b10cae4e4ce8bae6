#!/usr/bin/env bash
# Build the CI-only stand-ins for the public base images that our Dockerfile and
# compose.yaml name, so both build and run unchanged on machines that cannot pull
# from a public image registry:
#   localhost/debian:bookworm           debootstrap'd from the machine's own apt mirror
#   docker.io/library/python:3.11-slim  Debian's python3 + venv + pip
#   docker.io/library/postgres:15       Debian's postgresql-15 + an entrypoint that honours
#                                       the official image's variables and init directory
# Each image is rebuilt only when missing or when its definition here changed (a label
# carries a hash of its build files), so repeated runs on one machine reuse podman storage.
# Usage: tests/containers/build.sh [--force]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
force=0
[[ ${1:-} == --force ]] && force=1

DEBIAN_BASE=localhost/debian:bookworm
PYTHON_IMAGE=docker.io/library/python:3.11-slim
POSTGRES_IMAGE=docker.io/library/postgres:15
LABEL=org.session-backend.standin-hash

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z ${CONTAINERS_CONF:-} ]]; then
    # shellcheck source=tests/containers/podman-env.sh
    . "$here/podman-env.sh"
    podman_env "$work"
fi

log() { printf '[standins] %s\n' "$*" >&2; }

# The Debian archive this machine's apt already uses (deb822 or one-line sources).
debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local uri=""
    shopt -s nullglob
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
            $0 ~ /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); print a[2]; exit }
            }' "$f")
        [[ -n $uri ]] && break
    done
    if [[ -z $uri ]]; then
        uri=$(awk '$1 == "deb" && $0 ~ /[ \t]bookworm[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    fi
    shopt -u nullglob
    [[ -n $uri ]] || { log "no bookworm mirror found in apt sources; set DEBIAN_MIRROR"; return 1; }
    echo "$uri"
}

have_image() { podman image exists "$1"; }

image_hash() { podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

dir_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

build_debian() {
    if ((force == 0)) && have_image "$DEBIAN_BASE"; then
        log "$DEBIAN_BASE present"
        return
    fi
    command -v debootstrap >/dev/null || { log "debootstrap is not installed"; return 1; }
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$work/rootfs
    log "debootstrap bookworm from the machine's mirror (about a minute)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; return 1; }
    # Keep the image small: no apt lists or package cache.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$DEBIAN_BASE" >/dev/null
    rm -rf "$rootfs"
    # A new base invalidates both stand-ins built on it.
    force_children=1
}

# build_standin NAME IMAGE: build tests/containers/NAME into IMAGE when its files changed.
build_standin() {
    local name=$1 image=$2 hash ctx
    hash=$(dir_hash "$here/$name")
    if ((force == 0 && force_children == 0)) && [[ $(image_hash "$image") == "$hash" ]]; then
        log "$image present (definition unchanged)"
        return
    fi
    ctx=$work/ctx-$name
    mkdir -p "$ctx/extra-ca"
    cp -R "$here/$name/." "$ctx/"
    # Networks that intercept TLS need the machine's extra CA certificates inside the
    # build too, or pip and apt cannot reach their indexes from a container.
    cp /usr/local/share/ca-certificates/*.crt "$ctx/extra-ca/" 2>/dev/null || true
    log "building $image"
    podman build --format docker --pull=never --label "$LABEL=$hash" \
        --build-arg "DEBIAN_BASE=$DEBIAN_BASE" -t "$image" "$ctx" >"$work/build-$name.log" 2>&1 ||
        { tail -30 "$work/build-$name.log" >&2; return 1; }
}

command -v podman >/dev/null || { log "podman is not installed"; exit 1; }
force_children=0
build_debian
build_standin python-slim "$PYTHON_IMAGE"
build_standin postgres "$POSTGRES_IMAGE"
log "stand-ins ready"
