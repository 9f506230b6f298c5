-- wrk script: replay pre-signed Twilio webhook requests from a file, one per line:
--   <path>\t<X-Twilio-Signature>\t<urlencoded body>
-- Each wrk thread takes every Nth line so the threads share the conversations without overlap.
-- RATE_DELAY_MS (env) > 0 makes each connection wait that long between requests: a fixed rate.
local lines = {}
local index = 0
local threads = {}
local delay_ms = tonumber(os.getenv("RATE_DELAY_MS") or "0")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = os.getenv("REQUESTS_FILE")
  local count = tonumber(os.getenv("WRK_THREADS") or "1")
  local n = 0
  for line in io.lines(file) do
    if n % count == id then
      local path, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(lines, wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
        ["Host"] = "help.example.org",
      }, body))
    end
    n = n + 1
  end
end

function request()
  index = index % #lines + 1
  return lines[index]
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "timeouts": %d, ' ..
    '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000))
end
