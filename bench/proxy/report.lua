-- wrk reporter for scripts/bench-proxy.sh: one JSON line after wrk's own text (latencies in µs).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"errors":%d,"rps":%.1f,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.requests / summary.duration * 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
