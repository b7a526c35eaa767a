-- wrk script: replay prepared requests in order, one per line: METHOD<TAB>PATH[<TAB>BODY].
-- REQUESTS_FILE: the file; START (optional): lines to skip first; HEADER (optional): one extra
-- "Name: value" header for every request.
local requests = {}
for line in io.lines(os.getenv("REQUESTS_FILE")) do
  local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
  requests[#requests + 1] = {method, path, body ~= "" and body or nil}
end
local header = os.getenv("HEADER")
local headers = {["Content-Type"] = "application/json"}
if header then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  headers[name] = value
end
local i = tonumber(os.getenv("START") or "0")
request = function()
  i = i % #requests + 1
  local r = requests[i]
  return wrk.format(r[1], r[2], headers, r[3])
end
done = function(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f rps=%.1f errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
