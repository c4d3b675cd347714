-- wrk script: signed issues.labeled bodies, a distinct X-GitHub-Delivery per request.
-- The signature covers the body only, so reusing a body with a new id is valid: the
-- bodies (one per issue) are cycled, and every request gets its own delivery id.
-- Arguments after "--": BODIES_FILE ID_PREFIX, the file holding "signature<TAB>body" lines.
local counter = 0
local threads = {}
local prefix = "x"
local bodies = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local signature, body = line:match("^([^\t]+)\t(.*)$")
    table.insert(bodies, {signature, body})
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "issues"
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
  prefix = args[2] .. "-" .. tostring(tid) .. "-"
end

function request()
  counter = counter + 1
  local pick = bodies[(counter % #bodies) + 1]
  wrk.headers["X-GitHub-Delivery"] = prefix .. counter
  wrk.headers["X-Hub-Signature-256"] = pick[1]
  return wrk.format(nil, nil, nil, pick[2])
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
