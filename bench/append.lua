-- wrk script for workload 2: concurrent appends.
-- Run with one connection per wrk thread (-t N -c N): each thread is one writer with its own
-- session "<prefix>-<thread>" and agent "a" (created beforehand), and every request carries a
-- fresh message id. Arguments after "--": the session prefix, and optionally "GET", which sends plain
-- GETs of the URL given to wrk instead (the framework's floor, /health/live).

local next_thread = 0
local text = string.rep("The quick brown fox jumps over the lazy dog. ", 21):sub(1, 940)

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  path = "/api/v1/sessions/" .. args[1] .. "-" .. thread_index .. "/agents/a/messages"
  message_id = 0
  only_get = args[2] == "GET"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if only_get then
    return wrk.format("GET")
  end
  local body = string.format(
    '{"message_id": %d, "message": {"role": "user", "content": [{"text": "%s"}]}, "redact_message": null}',
    message_id, text)
  message_id = message_id + 1
  return wrk.format("POST", path, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
