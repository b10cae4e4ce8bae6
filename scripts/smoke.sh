#!/usr/bin/env bash
# Smoke test of a running session-backend over HTTP, the way its users call it:
#   scripts/smoke.sh http://127.0.0.1:8001
# Exercises every endpoint family with curl (health, OpenAPI, sessions, agents, messages,
# multi-agent state, cascading deletes) and exits non-zero at the first wrong status or
# body. Ids are unique per run, so it can run any number of times against one database.
# Needs curl and python3 (for reading JSON bodies).
set -euo pipefail

BASE=${1:?usage: scripts/smoke.sh BASE_URL}
BASE=${BASE%/}
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "smoke: $tool is required" >&2; exit 2; }
done

# Resolve the interpreter once: version-manager shims cost ~0.1 s per call, and the body
# checks below call it about 60 times.
PY=$(python3 -c 'import sys; print(sys.executable)')

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
RUN="smoke-$(date +%s)-$$-$RANDOM"
STEPS=0
LAST=""

fail() {
    echo "smoke: FAIL: $LAST: $*" >&2
    if [[ -s $tmp/body ]]; then
        echo "--- response body:" >&2
        head -c 2000 "$tmp/body" >&2
        echo >&2
    fi
    exit 1
}

# req METHOD PATH STATUS [JSON]: one request; the status must be STATUS.
req() {
    local method=$1 path=$2 want=$3 body=${4-} got
    local args=(-sS -X "$method" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}'
        --max-time 20 -H 'Accept: application/json')
    if [[ -n $body ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    LAST="$method $path"
    rm -f "$tmp/body" "$tmp/headers"
    got=$(curl "${args[@]}" "$BASE$path") || fail "curl could not complete the request"
    [[ $got == "$want" ]] || fail "expected HTTP $want, got $got"
    grep -qi '^x-request-id: *[^ ]' "$tmp/headers" || fail "no X-Request-ID header"
    STEPS=$((STEPS + 1))
    printf 'ok %3d  %s -> %s\n' "$STEPS" "$LAST" "$got"
}

# check PYTHON_EXPR: the last response body, parsed as JSON into `b`, must satisfy it.
check() {
    "$PY" -I -S - "$tmp/body" "$1" <<'PY' || fail "body check failed: $1"
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
except FileNotFoundError:
    text = ""
b = json.loads(text) if text.strip() else None
sys.exit(0 if eval(sys.argv[2], {"b": b}) else 1)
PY
}

# value PYTHON_EXPR: print a value from the last body.
value() {
    "$PY" -I -S -c 'import json, sys; b = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"b": b}))' \
        "$tmp/body" "$1"
}

empty_body() { [[ ! -s $tmp/body ]] || fail "expected an empty body"; }

# contains TEXT: the last response body must contain TEXT (for the viewer's HTML pages).
contains() { grep -qF -- "$1" "$tmp/body" || fail "body does not contain: $1"; }

error_is() { check "b['detail']['error'] == '$1' and b['detail'].get('request_id')"; }

S="$RUN-session"
A="$RUN-agent"
A2="$RUN-agent-2"
M="$RUN-graph"
M2="$RUN-swarm"
SP="/api/v1/sessions/$S"

echo "smoke: $BASE (run $RUN)"

# --- health and API docs
req GET /health 200
check "b['status'] == 'healthy' and b['service'] == 'session-backend' and b.get('version')"
req GET /health/db 200
check "b['status'] == 'healthy' and b['database'] == 'connected'"
req GET /health/live 200
check "b['status'] == 'alive'"
req GET /health/ready 200
check "b['status'] == 'ready'"
req GET /apispec.json 200
check "'/api/v1/sessions' in b['paths']"

# --- the viewer's pages and stylesheet ship in the package
req GET /ui/sign-in 200
contains 'name="csrf_token"'
req GET /ui/static/viewer.css 200
contains '.conversation'

# --- sessions
req POST /api/v1/sessions 201 "{\"session_id\": \"$S\", \"session_type\": \"AGENT\"}"
check "b['session_id'] == '$S' and b['session_type'] == 'AGENT' and b['created_at'] and b['updated_at']"
created_at=$(value "b['created_at']")
req POST /api/v1/sessions 409 "{\"session_id\": \"$S\"}"
error_is ConflictError
req POST /api/v1/sessions 422 '{"session_id": ""}'
error_is ValidationError
req POST /api/v1/sessions 400 'this is not json'
req GET "$SP" 200
check "b['session_id'] == '$S' and b['created_at'] == '$created_at'"
req GET "/api/v1/sessions/$RUN-missing" 404
error_is NotFoundError
req PUT "$SP" 200 '{"session_type": "AGENT"}'
check "b['session_id'] == '$S' and b['created_at'] == '$created_at' and b['updated_at'] >= b['created_at']"
req PUT "/api/v1/sessions/$RUN-missing" 404 '{"session_type": "AGENT"}'
req GET '/api/v1/sessions?limit=50' 200
check "'$S' in [s['session_id'] for s in b['sessions']] and 'next_cursor' in b"

# --- retention: a legal hold keeps a session from DELETE until released (migration 0007)
H="/api/v1/sessions/$RUN-held"
req POST /api/v1/sessions 201 "{\"session_id\": \"$RUN-held\", \"legal_hold\": true, \"ttl_seconds\": 3600}"
check "b['legal_hold'] is True and b['expires_at'] > b['created_at']"
req DELETE "$H" 409
error_is LegalHoldError
req PUT "$H" 200 '{"legal_hold": false, "expires_at": null}'
check "b['legal_hold'] is False and b['expires_at'] is None"
req DELETE "$H" 204

# --- agents
agent_body() { # agent_body ID STATE_VALUE
    printf '{"agent_id": "%s", "state": {"k": "%s"}, "conversation_manager_state": {"__name__": "SlidingWindowConversationManager", "removed_message_count": 0}, "_internal_state": {"interrupt_state": {"activated": false}}}' "$1" "$2"
}
req POST "$SP/agents" 201 "$(agent_body "$A" v1)"
check "b['agent_id'] == '$A' and b['state'] == {'k': 'v1'} and b['internal_state'] == {'interrupt_state': {'activated': False}}"
req POST "$SP/agents" 409 "$(agent_body "$A" v1)"
error_is ConflictError
req POST "/api/v1/sessions/$RUN-missing/agents" 404 "$(agent_body "$A" v1)"
req GET "$SP/agents/$A" 200
check "b['agent_id'] == '$A' and b['conversation_manager_state']['removed_message_count'] == 0"
req PUT "$SP/agents/$A" 200 '{"state": {"k": "v2"}, "conversation_manager_state": {"removed_message_count": 1}, "internal_state": {}}'
check "b['state'] == {'k': 'v2'} and b['conversation_manager_state'] == {'removed_message_count': 1} and b['internal_state'] == {}"
req GET "$SP/agents/$RUN-missing" 404
req POST "$SP/agents" 201 "$(agent_body "$A2" other)"
req GET "$SP/agents" 200
check "sorted(a['agent_id'] for a in b['agents']) == sorted(['$A', '$A2'])"

# --- messages
MP="$SP/agents/$A/messages"
message_body() { # message_body ID TEXT
    printf '{"message_id": %s, "message": {"role": "user", "content": [{"text": "%s"}]}, "redact_message": null}' "$1" "$2"
}
for i in 0 1 2; do
    req POST "$MP" 201 "$(message_body "$i" "hello $i")"
    check "b['message_id'] == $i and b['message']['content'][0]['text'] == 'hello $i' and b['redact_message'] is None"
done
req POST "$MP" 409 "$(message_body 0 again)"
error_is ConflictError
req POST "$SP/agents/$RUN-missing/messages" 404 "$(message_body 0 nobody)"
req POST "$MP" 422 '{"message_id": -1, "message": {"role": "user", "content": []}}'
error_is ValidationError
req GET "$MP/1" 200
check "b['message_id'] == 1 and b['message'] == {'role': 'user', 'content': [{'text': 'hello 1'}]}"
req PUT "$MP/1" 200 '{"message": {"role": "user", "content": [{"text": "hello 1"}]}, "redact_message": {"role": "user", "content": [{"text": "[REDACTED]"}]}}'
check "b['redact_message']['content'][0]['text'] == '[REDACTED]'"
req GET "$MP/1" 200
check "b['redact_message']['content'][0]['text'] == '[REDACTED]'"
req GET "$MP/99" 404
req GET "$MP?limit=2&order=asc" 200
check "[m['message_id'] for m in b['messages']] == [0, 1] and b['total'] == 3 and b['next_after'] == 1"
req GET "$MP?after=1&order=asc" 200
check "[m['message_id'] for m in b['messages']] == [2] and b['next_after'] is None"
req GET "$MP?limit=1&offset=1" 200
check "[m['message_id'] for m in b['messages']] == [1]"
req GET "$MP?order=desc" 200
check "[m['message_id'] for m in b['messages']] == [2, 1, 0]"
req DELETE "$MP/2" 204
empty_body
req GET "$MP/2" 404
req DELETE "$MP/2" 404

# --- multi-agent state (the dict Strands' MultiAgentBase.serialize_state() returns)
multi_body() { # multi_body ID STATUS
    printf '{"type": "graph", "id": "%s", "status": "%s", "completed_nodes": ["a"], "failed_nodes": [], "node_results": {}, "current_task": "smoke", "execution_order": ["a"], "next_nodes_to_execute": ["b"]}' "$1" "$2"
}
req POST "$SP/multi-agents" 201 "$(multi_body "$M" executing)"
check "b['id'] == '$M' and b['status'] == 'executing' and b['next_nodes_to_execute'] == ['b']"
req POST "$SP/multi-agents" 409 "$(multi_body "$M" executing)"
error_is ConflictError
req POST "/api/v1/sessions/$RUN-missing/multi-agents" 404 "$(multi_body "$M" executing)"
req GET "$SP/multi-agents/$M" 200
check "b['id'] == '$M' and b['completed_nodes'] == ['a'] and b['current_task'] == 'smoke'"
req PUT "$SP/multi-agents/$M" 200 "$(multi_body "$M" completed)"
check "b['status'] == 'completed'"
req GET "$SP/multi-agents/$M" 200
check "b['status'] == 'completed'"
req DELETE "$SP/multi-agents/$M" 204
empty_body
req GET "$SP/multi-agents/$M" 404
req POST "$SP/multi-agents" 201 "$(multi_body "$M2" executing)"

# --- cascades: deleting an agent drops its messages; deleting the session drops everything
req DELETE "$SP/agents/$A" 204
empty_body
req GET "$SP/agents/$A" 404
req GET "$MP/0" 404
req DELETE "$SP/agents/$A" 404
req POST "$SP/agents/$A2/messages" 201 "$(message_body 0 kept)"
req DELETE "$SP" 204
empty_body
req GET "$SP" 404
req GET "$SP/agents/$A2" 404
req GET "$SP/agents/$A2/messages/0" 404
req GET "$SP/multi-agents/$M2" 404
req DELETE "$SP" 404
error_is NotFoundError

echo "smoke: all $STEPS requests passed against $BASE"
