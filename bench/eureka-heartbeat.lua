-- wrk script for bench/eureka-bench.sh: Eureka heartbeats (PUT /eureka/apps/{APP}/{ID}, empty
-- body, as eureka-js-client sends them) cycling through every registered instance in turn, each
-- connection pausing PAUSE_MS between its heartbeats: 11 connections × 3 ms (or 105 × 30 ms)
-- offer ≈3,300/s, i.e. 100,000 instances renewing every 30 s.
--
--   wrk -t1 -c11 -d120s --latency -s bench/eureka-heartbeat.lua http://127.0.0.1:PORT \
--       -- IDS_FILE [PAUSE_MS=30] [PREFIX=/eureka]
--
-- IDS_FILE holds one "APP/ID" a line (tests/examples/eureka_load.rs --ids-out writes it).
-- wrk's latency excludes the pause (it starts timing when the request is written).

local ids = {}
local count = 0
local pos = 0
local pause = 30
local prefix = "/eureka"

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: -- IDS_FILE [PAUSE_MS] [PREFIX]")
  end
  pause = tonumber(args[2] or "30")
  prefix = args[3] or "/eureka"
  for line in io.lines(path) do
    count = count + 1
    ids[count] = line
  end
  if count == 0 then
    error("no ids in " .. path)
  end
end

function delay()
  return pause
end

function request()
  pos = pos % count + 1
  return wrk.format("PUT", prefix .. "/apps/" .. ids[pos])
end
