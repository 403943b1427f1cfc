#!/usr/bin/env bash
# Webhook benchmark (bench/webhook/README.md): wrk POSTs a real PeerAuthentication AdmissionReview
# over HTTPS keep-alive to `peergate webhook --cluster-state <synthetic cluster>`, and, in the same
# run, to nginx returning a static JSON reply over HTTPS with the same certificate (the ceiling).
#
#   bash scripts/bench-webhook.sh            10,000 namespaces / 100,000 pods, 8 and 64 connections,
#                                            10 s each, 3 rounds (webhook and nginx alternate)
#   bash scripts/bench-webhook.sh --quick    1/10 of the cluster, 3 s runs, 1 round (smoke run)
#
# The ratios are taken per round (webhook and nginx measured in the same minute) and the targets
# judged on their median: nginx's own p99 on 2 shared cores moves 40x from run to run.
# Options: --duration S (default 10), --rounds N, --connections "8 64", --threads N (wrk threads, default 2),
# --skip-build (use build/release as it is), --log-decisions (keep the decision log at info;
# by default the webhook logs at warn so the run measures admission, not stderr), --seed N,
# --trivial (POST a review of a kind /validate refuses at once: the HTTPS server's ceiling).
# Environment: PEERGATE=path overrides the peergate binary.
# Output: a table on stdout, bench/out/webhook.json (webhook-quick.json with --quick,
# webhook-trivial[-quick].json with --trivial).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0 trivial=0 duration=10 rounds=0 connections="8 64" threads=2 build=1 log_level=warn seed=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --duration) duration="${2:?--duration needs seconds}"; shift ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
    --connections) connections="${2:?--connections needs a list}"; shift ;;
    --threads) threads="${2:?--threads needs a number}"; shift ;;
    --skip-build) build=0 ;;
    --log-decisions) log_level=info ;;
    --seed) seed="${2:?--seed needs a number}"; shift ;;
    --trivial) trivial=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-webhook.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done
[[ $quick -eq 1 && $duration -eq 10 ]] && duration=3
[[ $rounds -gt 0 ]] || rounds=$((quick ? 1 : 3))

log() { echo "bench-webhook.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# --- tools ------------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
[[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if [[ ${#need[@]} -gt 0 ]]; then
  log "installing ${need[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

# --- build ------------------------------------------------------------------------------------
bdir="$root/build/release"
if [[ $build -eq 1 ]]; then
  log "building the release binaries in $bdir"
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target peergate peergate_bench_gen >&2
fi
gen="$bdir/bench/peergate_bench_gen"
peergate="${PEERGATE:-$bdir/cli/peergate}"
[[ -x "$gen" ]] || die "$gen is missing (run without --skip-build)"
[[ -x "$peergate" ]] || die "$peergate is missing (run without --skip-build)"

# --- inputs -----------------------------------------------------------------------------------
out="$root/bench/out"
mkdir -p "$out"
divisor=$((quick ? 10 : 1))
ns=$((10000 / divisor)) pods=$((100000 / divisor)) pas=$((20000 / divisor)) drs=$((5000 / divisor))
# The engine benchmark's naming: keyed by the generator's source, shared with scripts/bench.sh.
gen_rev="$(sha256sum bench/engine/generate_cluster.cc | cut -c1-8)"
state="$out/cluster-${pods}pods-seed${seed}-${gen_rev}.json"
if [[ ! -s "$state" ]]; then
  log "generating $state"
  "$gen" --namespaces "$ns" --pods "$pods" --policies "$pas" --destination-rules "$drs" \
    --seed "$seed" --out "$state.tmp" >&2
  mv "$state.tmp" "$state"
fi

tmp="$(mktemp -d)"
webhook_pid="" nginx_pid=""
cleanup() {
  [[ -n "$webhook_pid" ]] && kill "$webhook_pid" 2>/dev/null && wait "$webhook_pid" 2>/dev/null
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

bash tests/testdata/certs/gen.sh "$tmp/certs"

# A namespace of the generated cluster that has workloads without a proxy, so a namespace-wide
# STRICT policy there is a real denial (the engine plans it against the whole state).
target_ns="$(python3 - "$state" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
ns_labels = {i["metadata"]["name"]: i["metadata"].get("labels", {}) for i in items if i["kind"] == "Namespace"}
plain = lambda l: "istio-injection" not in l and "istio.io/rev" not in l and "istio.io/dataplane-mode" not in l
for i in items:
    m = i["metadata"]
    if i["kind"] == "Pod" and plain(ns_labels.get(m.get("namespace"), {})) and m["namespace"] not in ("kube-system", "istio-system", "default"):
        print(m["namespace"]); break
EOF
)"
[[ -n "$target_ns" ]] || die "no namespace without injection in $state"
cat >"$tmp/review.json" <<EOF
{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"8e8a7f0c-5f4b-4cf6-9a61-1c1b7f3f2a10","kind":{"group":"security.istio.io","version":"v1","kind":"PeerAuthentication"},"resource":{"group":"security.istio.io","version":"v1","resource":"peerauthentications"},"requestKind":{"group":"security.istio.io","version":"v1","kind":"PeerAuthentication"},"requestResource":{"group":"security.istio.io","version":"v1","resource":"peerauthentications"},"name":"default","namespace":"$target_ns","operation":"CREATE","userInfo":{"username":"alice@example.com","uid":"014fbff9a07c","groups":["system:authenticated"]},"object":{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"default","namespace":"$target_ns","creationTimestamp":null},"spec":{"mtls":{"mode":"STRICT"}}},"oldObject":null,"dryRun":false,"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}}
EOF

if [[ $trivial -eq 1 ]]; then
  # A ConfigMap on /validate: refused with a 400 review before any analysis.
  python3 - "$tmp/review.json" <<'EOF2'
import json, sys
review = json.load(open(sys.argv[1]))
review["request"]["kind"]["kind"] = "ConfigMap"
json.dump(review, open(sys.argv[1], "w"), separators=(",", ":"))
EOF2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
webhook_port="$(free_port)" admin_port="$(free_port)" nginx_port="$(free_port)"

# --- webhook ----------------------------------------------------------------------------------
log "starting peergate webhook on :$webhook_port with $state"
started=$EPOCHREALTIME
"$peergate" webhook --port "$webhook_port" --admin-port "$admin_port" --bind-address 127.0.0.1 \
  --tls-cert "$tmp/certs/server.crt" --tls-key "$tmp/certs/server.key" --cluster-state "$state" \
  --log-format json --log-level "$log_level" --shutdown-delay 0 2>"$tmp/webhook.log" &
webhook_pid=$!
until curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1; do
  kill -0 "$webhook_pid" 2>/dev/null || { tail -n 20 "$tmp/webhook.log" >&2; die "the webhook exited"; }
  sleep 0.5
done
ready_seconds="$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')"
log "ready after ${ready_seconds} s"

reply="$(curl -sf --cacert "$tmp/certs/ca.crt" -H 'Content-Type: application/json' \
  --data-binary "@$tmp/review.json" "https://localhost:$webhook_port/validate")"
echo "$reply" | python3 -c 'import json,sys; r=json.load(sys.stdin)["response"]; assert "allowed" in r' ||
  die "unexpected reply: $reply"
verdict="$(echo "$reply" | python3 -c 'import json,sys; r=json.load(sys.stdin)["response"]; print("allowed" if r["allowed"] else "denied %s" % r["status"]["code"])')"
log "sample reply: $verdict (${#reply} bytes)"

# --- nginx: the same reply, static, same certificate --------------------------------------------
[[ "$reply" != *'$'* ]] || die "the reply contains \$, which nginx's return cannot carry"
escaped="${reply//\\/\\\\}"
escaped="${escaped//\'/\\\'}"
mkdir -p "$tmp/nginx"
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_max_body_size 8m;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $tmp/certs/server.crt;
    ssl_certificate_key $tmp/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      default_type application/json;
      return 200 '$escaped';
    }
  }
}
EOF
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 50); do
  curl -sf -k -X POST "https://127.0.0.1:$nginx_port/validate" >/dev/null 2>&1 && break
  sleep 0.1
done
nginx_reply="$(curl -sf --cacert "$tmp/certs/ca.crt" -H 'Content-Type: application/json' \
  --data-binary "@$tmp/review.json" "https://localhost:$nginx_port/validate")" ||
  die "nginx does not answer: $(cat "$tmp/nginx/error.log")"
[[ "$nginx_reply" == "$reply" ]] || die "nginx's reply differs from the webhook's"

# --- runs -------------------------------------------------------------------------------------
# run_wrk NAME PORT CONNS SECONDS -> prints the WRKJSON object
run_wrk() {
  REVIEW_FILE="$tmp/review.json" wrk -t"$threads" -c"$3" -d"${4}s" --timeout 10s \
    -s bench/webhook/post_review.lua "https://localhost:$2/validate" >"$tmp/wrk-$1-$3.txt" 2>&1 ||
    { cat "$tmp/wrk-$1-$3.txt" >&2; die "wrk failed against $1"; }
  grep '^WRKJSON ' "$tmp/wrk-$1-$3.txt" | sed 's/^WRKJSON //'
}

log "warming up"
run_wrk webhook "$webhook_port" 8 2 >/dev/null
run_wrk nginx "$nginx_port" 8 2 >/dev/null

results="$tmp/results.jsonl"
: >"$results"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  for c in $connections; do
    log "round $round/$rounds: webhook, $c connections, ${duration} s"
    w="$(run_wrk webhook "$webhook_port" "$c" "$duration")"
    log "round $round/$rounds: nginx, $c connections, ${duration} s"
    n="$(run_wrk nginx "$nginx_port" "$c" "$duration")"
    echo "{\"round\":$round,\"connections\":$c,\"webhook\":$w,\"nginx\":$n}" >>"$results"
  done
done

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
rss_kb="$(awk '/^VmRSS/ {print $2}' "/proc/$webhook_pid/status")"
hwm_kb="$(awk '/^VmHWM/ {print $2}' "/proc/$webhook_pid/status")"
threads_used="$(awk '/^Threads/ {print $2}' "/proc/$webhook_pid/status")"
curl -sf "http://127.0.0.1:$admin_port/metrics" >"$tmp/metrics.txt"

# --- report -----------------------------------------------------------------------------------
suffix=""
[[ $trivial -eq 1 ]] && suffix="-trivial"
[[ $quick -eq 1 ]] && suffix="$suffix-quick"
report="$out/webhook$suffix.json"
python3 - "$results" "$report" "$state" "$rss_kb" "$hwm_kb" "$ready_seconds" "$verdict" \
  "$duration" "$threads" "$threads_used" "$tmp/metrics.txt" "$(nproc)" "$pods" "$ns" \
  "$load_before" "$load_after" <<'EOF'
import json, statistics, sys
(results, report, state, rss_kb, hwm_kb, ready, verdict, duration, threads, threads_used,
 metrics_file, cpus, pods, namespaces, load_before, load_after) = sys.argv[1:]
rows = [json.loads(line) for line in open(results)]
errors = 0
print(f"peergate webhook vs nginx (static reply), HTTPS keep-alive, wrk -t{threads}, {duration} s per run, {cpus} CPUs shared")
print(f"cluster state: {namespaces} namespaces, {pods} pods ({state.split('/')[-1]}); reply: {verdict}")
print(f"load average before/after the runs: {load_before} / {load_after} (other work on the machine)")
print(f"{'round':<6}{'target':<9}{'conns':>6}{'req/s':>11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
for row in rows:
    for name in ("webhook", "nginx"):
        r = row[name]
        e = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
        errors += e
        print(f"{row['round']:<6}{name:<9}{row['connections']:>6}{r['rps']:>11.0f}{r['p50_us']/1000:>9.2f}"
              f"{r['p90_us']/1000:>9.2f}{r['p99_us']/1000:>9.2f}{r['max_us']/1000:>9.2f}{e:>8}")
print()
ratio = lambda a, b: a / b if b else 0
ratios = []
for c in sorted({row["connections"] for row in rows}):
    mine = [row for row in rows if row["connections"] == c]
    per_round = {key: [round(ratio(row["webhook"][field], row["nginx"][field]), 3) for row in mine]
                 for key, field in (("throughput", "rps"), ("p50", "p50_us"), ("p99", "p99_us"))}
    ratios.append({"connections": c, "throughput_ratio": round(statistics.median(per_round["throughput"]), 3),
                   "p50_ratio": round(statistics.median(per_round["p50"]), 3),
                   "p99_ratio": round(statistics.median(per_round["p99"]), 3), "per_round": per_round})
    print(f"{c:>3} connections, median of {len(mine)} round(s): webhook/nginx throughput "
          f"{ratios[-1]['throughput_ratio']:.2f}x, p50 {ratios[-1]['p50_ratio']:.2f}x, "
          f"p99 {ratios[-1]['p99_ratio']:.2f}x (p99 per round: "
          + ", ".join(f"{v:.2f}x" for v in per_round["p99"]) + ")")
print(f"webhook RSS after the runs: {int(rss_kb)/1024:.0f} MiB (peak {int(hwm_kb)/1024:.0f} MiB), "
      f"{threads_used} threads; ready {ready} s after start")
targets = {}
for r in ratios:
    if r["connections"] == 64:
        targets["throughput_at_64_ge_0.3"] = r["throughput_ratio"] >= 0.3
    if r["connections"] == 8:
        targets["p99_at_8_le_1.5x"] = r["p99_ratio"] <= 1.5
targets["rss_le_1GiB"] = int(hwm_kb) <= 1024 * 1024
print("targets:", ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in targets.items()))
metrics = [l for l in open(metrics_file) if l.startswith("peergate_admission_requests_total")]
json.dump({"state": state.split("/")[-1], "reply": verdict, "duration_seconds": float(duration),
           "wrk_threads": int(threads), "cpus": int(cpus), "rounds": len({r["round"] for r in rows}), "runs": rows, "ratios": ratios,
           "webhook_rss_kb": int(rss_kb), "webhook_peak_rss_kb": int(hwm_kb),
           "webhook_threads": int(threads_used), "ready_seconds": float(ready),
           "errors": errors, "targets": targets, "admission_counters": metrics,
           "load_average_before": load_before, "load_average_after": load_after},
          open(report, "w"), indent=2)
print(f"written: {report}")
EOF
