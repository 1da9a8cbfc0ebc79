-- GET the URL given to wrk (headers such as Cookie or Authorization come from
-- wrk -H), optionally paced: BENCH_DELAY_MS of think time before each request.

local common = dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0

if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  common.report(summary, latency)
end
