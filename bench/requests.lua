-- wrk script: one endpoint per run, chosen by arguments (method, path, body kind).
-- Requests are built in init(), where wrk.headers already carries the Host header.
-- Every response that is not 2xx is counted, and done() prints one JSON line.
local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   method, path, kind, prefix = args[1], args[2], args[3], args[4]
   non2xx = 0
   wrk.headers["Content-Type"] = "application/json"
   if kind == "patch" then
      fixed = wrk.format(method, path, nil, '{"description": "patched by wrk"}')
   elseif kind ~= "post" then
      fixed = wrk.format(method, path, nil, nil)
   end
end

function request()
   if fixed then
      return fixed
   end
   counter = counter + 1
   local body = string.format(
      '{"name": "%s-%d-%d", "description": "made by wrk", "tags": ["bench", "wrk"]}',
      prefix, id, counter)
   return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, ' ..
      '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
      '"p99_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
