-- Shared by the bench scripts (loaded with dofile; bench/load and bench/soak
-- set BENCH_LUA_DIR). wrk gives every thread its own Lua state, so each
-- script loads this once per thread, and once for setup()/done().

local M = {}

function M.urlencode(text)
  return (tostring(text):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function M.form(fields)
  local parts = {}
  for _, pair in ipairs(fields) do
    parts[#parts + 1] = M.urlencode(pair[1]) .. "=" .. M.urlencode(pair[2])
  end
  return table.concat(parts, "&")
end

function M.env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then
      error("bench: the variable " .. name .. " is not set")
    end
    return default
  end
  return value
end

-- One line bench/load and bench/soak parse: throughput, latency percentiles
-- (ms) and every kind of error wrk counts ("status" = answers >= 400).
function M.report(summary, latency, extra)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local line = string.format(
    "BENCH requests=%d duration_s=%.3f rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
      .. "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.status, e.timeout)
  if extra ~= nil and extra ~= "" then
    line = line .. " " .. extra
  end
  io.write(line .. "\n")
end

return M
