-- wrk script for bench/webhook: POST one AdmissionReview over keep-alive connections and print
-- a machine-readable summary line (WRKJSON {...}) for scripts/bench-webhook.sh.
--
--   REVIEW_FILE=review.json wrk -t2 -c8 -d10s -s bench/webhook/post_review.lua https://host:port/validate

local path = os.getenv("REVIEW_FILE") or "review.json"
local file = assert(io.open(path, "rb"), "cannot open REVIEW_FILE " .. path)
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"bytes":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, summary.bytes))
end
