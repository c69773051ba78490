-- wrk script for bench/bench_hub.py: replays pre-computed, validly signed sendEdoc requests.
--
-- Usage (bench_hub.py builds the files):  wrk ... -s bench/wrk_hub.lua URL -- PARTS REQUESTS
--   PARTS     the package template cut at its variable places (length-prefixed records)
--   REQUESTS  one record per request: the HTTP head (request line, SDK HMAC headers with a fresh
--             timestamp, Content-Length) and the values that fill the template's gaps
-- With REQUESTS = "ping" it sends GET /ping instead (the floor).
-- Thread i of n takes records i, i+n, i+2n ... so no package is sent twice; when a thread runs out
-- it starts again from its first record and counts "repeats" (bench_hub.py flags such a run).
-- A response counts as an error unless it is HTTP 200 with "status":"OK" in the JSON.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function records(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local out, pos = {}, 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    out[#out + 1] = data:sub(nl + 1, nl + len)
    pos = nl + len + 1
  end
  return out
end

local parts, heads, values = nil, {}, {}
local ping = nil
local idx = 0
errors, repeats, sent = 0, 0, 0

function init(args)
  if args[2] == "ping" then
    ping = "GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
    return
  end
  parts = records(args[1])
  local all = records(args[2])
  local nthreads = tonumber(args[3])
  for i = 1 + tid * 2, #all, 2 * nthreads do
    heads[#heads + 1] = all[i]
    local vals = {}
    for v in (all[i + 1] .. "\t"):gmatch("([^\t]*)\t") do vals[#vals + 1] = v end
    values[#values + 1] = vals
  end
end

function request()
  sent = sent + 1
  if ping then return ping end
  idx = idx + 1
  if idx > #heads then
    idx = 1
    repeats = repeats + 1
  end
  local vals, pieces = values[idx], {heads[idx]}
  for i = 1, #parts do
    pieces[#pieces + 1] = parts[i]
    if vals[i] then pieces[#pieces + 1] = vals[i] end
  end
  return table.concat(pieces)
end

function response(status, headers, body)
  if status ~= 200 or not body or not body:find('"status":"OK"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs, reps = 0, 0
  for _, t in ipairs(threads) do
    errs = errs + (t:get("errors") or 0)
    reps = reps + (t:get("repeats") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bad_answers":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"repeats":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, errs, e.connect, e.read, e.write, e.timeout, reps,
    latency:percentile(50), latency:percentile(99), latency.max))
end
