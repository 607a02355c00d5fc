-- wrk script for the benchmark: single-event POST /collect with a unique event_id per request.
--
-- Arguments (after `--` on the wrk command line):
--   1: path of a body template file holding the placeholder __EVENT_ID__
--   2: a tag that makes event ids unique across runs (e.g. "gateway-c64-measure")
--   3..: request headers as "Name: value"
-- At the end it prints one line "BENCH_JSON {...}" with the counts per status, the
-- socket errors and the latency percentiles (microseconds), which bench/run.py parses.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local template = file:read("*a")
  file:close()
  local at = assert(string.find(template, "__EVENT_ID__", 1, true), "no __EVENT_ID__ in body")
  prefix = string.sub(template, 1, at - 1)
  suffix = string.sub(template, at + string.len("__EVENT_ID__"))
  tag = args[2]
  headers = {}
  for i = 3, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local body = prefix .. tag .. "-" .. tid .. "-" .. counter .. suffix
  return wrk.format("POST", "/collect", headers, body)
end

function response(status, hdrs, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "responses": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.duration, summary.requests, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
