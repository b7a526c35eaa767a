-- wrk script: replay prepared requests in order, one per line: METHOD<TAB>PATH[<TAB>BODY[<TAB>HEADER]].
-- REQUESTS_FILE: the file; START (optional): lines to skip first; HEADER (optional): one extra
-- "Name: value" header for every request; a line's own HEADER is added to that request only.
local function with_header(headers, header)
  local name, value = header:match("^([^:]+):%s*(.*)$")
  local copy = {}
  for k, v in pairs(headers) do copy[k] = v end
  copy[name] = value
  return copy
end
local headers = {["Content-Type"] = "application/json"}
if os.getenv("HEADER") then
  headers = with_header(headers, os.getenv("HEADER"))
end
local requests = {}
for line in io.lines(os.getenv("REQUESTS_FILE")) do
  local method, path, body, header = line:match("^(%u+)\t([^\t]+)\t?([^\t]*)\t?(.*)$")
  local own = header ~= "" and with_header(headers, header) or headers
  requests[#requests + 1] = {method, path, body ~= "" and body or nil, own}
end
local i = tonumber(os.getenv("START") or "0")
request = function()
  i = i % #requests + 1
  local r = requests[i]
  return wrk.format(r[1], r[2], r[4], r[3])
end
done = function(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f rps=%.1f errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
