#!/usr/bin/env bash
# Proxy benchmark (bench/README.md, "bench/proxy"): in one run on loopback, the same clients and
# servers (nginx, iperf3, an echo sink) reached three ways:
#   direct     client → app
#   peergate   client → peergate proxy (outbound, --outbound-map) ══mTLS══ peergate proxy
#              (inbound, --inbound-map, STRICT) → app
#   haproxy    client → haproxy (server line: ssl verify required, client cert) ══mTLS══ haproxy
#              (bind: ssl verify required) → app; same certificates, one thread each
#   stunnel    client → stunnel (client = yes) ══mTLS══ stunnel (requireCert) → app: the second
#              baseline (a thread per connection; not in the idle-connection run)
#
#   bash scripts/bench-proxy.sh            5 s runs (10 s at the fixed rate), 3 rounds, up to 10,000 idle connections
#   bash scripts/bench-proxy.sh --quick    1 s runs, 1 round, 200 idle connections (smoke run)
#
# Options: --rounds N (medians over N rounds; targets alternate within a round, in an order that
# swaps every round, and the targets are judged on the median of per-round comparisons), --duration S,
# --idle N (idle connections; capped by `ulimit -n`), --skip-build (use build/release as it is),
# --only LIST (comma-separated subset of throughput,wrk,rate,connect,sniff,idle; prints the medians
# of what ran, rows in proxy-only-runs.jsonl, no summary: for comparing one change quickly).
# Environment: PEERGATE=path overrides the peergate binary, BENCH_BIN=dir the load clients'
# directory, JOBS=n the build parallelism (default 1).
# Output: a summary table on stdout; bench/out/proxy.json (proxy-quick.json with --quick) with
# every run, the medians, the ratios against the targets and the machine load; each measurement
# is also appended to bench/out/proxy-runs.jsonl (proxy-quick-runs.jsonl) as soon as it is taken.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0 rounds="" duration="" idle="" build=1 only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
    --duration) duration="${2:?--duration needs seconds}"; shift ;;
    --idle) idle="${2:?--idle needs a number}"; shift ;;
    --skip-build) build=0 ;;
    --only) only="${2:?--only needs a list}"; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-proxy.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then
  : "${rounds:=1}" "${duration:=1}" "${idle:=200}"
  rate_duration=$duration
else
  : "${rounds:=3}" "${duration:=5}" "${idle:=10000}"
  rate_duration=$((duration * 2))
fi
# Each proxy holds two descriptors per connection; leave room for listeners and logs, and keep
# the idle connections below haproxy's maxconn (fd_cap), which would queue the rest unanswered.
fd_cap=$((($(ulimit -n) - 200) / 2))
((idle > fd_cap - 100)) && idle=$((fd_cap - 100))

log() { echo "bench-proxy.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# --- tools ------------------------------------------------------------------------------------
need=()
for tool in wrk iperf3 haproxy curl openssl python3 stunnel4; do command -v "$tool" >/dev/null || need+=("$tool"); done
[[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null || need+=(nginx)
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
  cmake --build --preset release -j"${JOBS:-1}" --target peergate peergate_bench_rate \
    peergate_bench_connect peergate_bench_idle >&2
fi
peergate="${PEERGATE:-$bdir/cli/peergate}"
bin="${BENCH_BIN:-$bdir/bench}"
for exe in "$peergate" "$bin/peergate_bench_rate" "$bin/peergate_bench_connect" "$bin/peergate_bench_idle"; do
  [[ -x "$exe" ]] || die "$exe is missing (run without --skip-build)"
done

out="$root/bench/out"
mkdir -p "$out"
suffix="$([[ $quick -eq 1 ]] && echo -quick || true)"
results="$out/proxy$suffix-runs.jsonl"  # one line per measurement, kept even when a run fails
# --only runs write their own file, started afresh, so their medians see only this run's rows and
# the full runs' history stays whole.
[[ -z "$only" ]] || results="$out/proxy$suffix-only-runs.jsonl"
: >"$results"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  local rc=$? pid
  [[ $rc -eq 0 ]] || log "stopped (exit $rc); the runs so far are in $results"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Distinct free loopback ports, all held until printed.
mapfile -t ports < <(python3 - <<'EOF'
import socket
held = []
for _ in range(24):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
for s in held: print(s.getsockname()[1])
EOF
)
app_http=${ports[0]} app_perm=${ports[1]} app_iperf=${ports[2]} app_idle=${ports[3]}
pg_in_http=${ports[4]} pg_in_perm=${ports[5]} pg_in_iperf=${ports[6]} pg_in_idle=${ports[7]}
pg_out_http=${ports[8]} pg_out_perm=${ports[9]} pg_out_iperf=${ports[10]} pg_out_idle=${ports[11]}
pg_admin_server=${ports[12]} pg_admin_client=${ports[13]}
ha_in_http=${ports[14]} ha_in_iperf=${ports[15]} ha_in_idle=${ports[16]}
ha_out_http=${ports[17]} ha_out_iperf=${ports[18]} ha_out_idle=${ports[19]}
st_in_http=${ports[20]} st_in_iperf=${ports[21]} st_out_http=${ports[22]} st_out_iperf=${ports[23]}

# Waits (bounded) until something accepts on 127.0.0.1:$1.
wait_port() {
  local tries=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((++tries < 100)) || die "nothing listens on port $1 after 10 s ($2)"
    sleep 0.1
  done
}

# --- certificates and cluster state -----------------------------------------------------------
"$peergate" certs ca --out "$tmp/ca" >/dev/null
for sa in server client; do
  "$peergate" certs issue --ca "$tmp/ca" --spiffe "spiffe://cluster.local/ns/bench/sa/$sa" \
    --out "$tmp/$sa" --ttl 24h >/dev/null
  cat "$tmp/$sa/cert.pem" "$tmp/$sa/key.pem" >"$tmp/$sa/haproxy.pem"
done
mkdir -p "$tmp/state"
cat >"$tmp/state/cluster.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: bench, uid: uid-server, labels: {app: server}}
spec:
  serviceAccountName: server
  containers:
  - name: app
    image: example/app
    ports: [{containerPort: $app_http}, {containerPort: $app_perm}, {containerPort: $app_iperf}, {containerPort: $app_idle}]
  - name: peergate-proxy
    image: peergate
status: {podIP: 127.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: bench, uid: uid-client, labels: {app: client}}
spec:
  serviceAccountName: client
  containers:
  - name: client
    image: example/client
  - name: peergate-proxy
    image: peergate
status: {podIP: 10.255.0.2}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: server, namespace: bench, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector:
    matchLabels: {app: server}
  mtls: {mode: STRICT}
  portLevelMtls:
    $app_perm: {mode: PERMISSIVE}
EOF

# --- apps -------------------------------------------------------------------------------------
mkdir -p "$tmp/nginx"
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$app_http;
    listen 127.0.0.1:$app_perm;
    location / { default_type text/plain; return 200 "hello from the app\n"; }
  }
}
EOF
"$nginx_bin" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2>"$tmp/nginx/stderr" &
pids+=($!)
iperf3 -s -B 127.0.0.1 -p "$app_iperf" >"$tmp/iperf3-server.log" 2>&1 &
pids+=($!)
"$bin/peergate_bench_idle" --sink --port "$app_idle" --seconds 7200 &
pids+=($!)

# --- peergate pair ----------------------------------------------------------------------------
common=(--cluster-state "$tmp/state" --inbound-port -1 --outbound-port -1 --bind-address 127.0.0.1
  --max-connections 20000 --log-format text --log-level warn)
"$peergate" proxy --pod bench/server --certs "$tmp/server" --admin-port "$pg_admin_server" \
  --inbound-map "$pg_in_http=$app_http,$pg_in_perm=$app_perm,$pg_in_iperf=$app_iperf,$pg_in_idle=$app_idle" \
  "${common[@]}" 2>"$tmp/pg-server.log" &
pg_server=$!
pids+=($pg_server)
"$peergate" proxy --pod bench/client --certs "$tmp/client" --admin-port "$pg_admin_client" \
  --outbound-map "$pg_out_http=127.0.0.1:$pg_in_http,$pg_out_perm=127.0.0.1:$pg_in_perm,$pg_out_iperf=127.0.0.1:$pg_in_iperf,$pg_out_idle=127.0.0.1:$pg_in_idle" \
  "${common[@]}" 2>"$tmp/pg-client.log" &
pg_client=$!
pids+=($pg_client)

# --- haproxy pair -----------------------------------------------------------------------------
# One thread each, as peergate runs one event loop; maxconn within the descriptor limit.
ha_global="global
  nbthread 1
  maxconn $fd_cap
  ssl-default-bind-options ssl-min-ver TLSv1.2
  ssl-default-server-options ssl-min-ver TLSv1.2
defaults
  mode tcp
  maxconn $fd_cap
  timeout connect 10s
  timeout client 1h
  timeout server 1h"
{
  echo "$ha_global"
  for route in http:$ha_in_http:$app_http iperf:$ha_in_iperf:$app_iperf idle:$ha_in_idle:$app_idle; do
    IFS=: read -r name listen app <<<"$route"
    printf 'listen %s\n  bind 127.0.0.1:%s ssl crt %s ca-file %s verify required\n  server app 127.0.0.1:%s\n' \
      "$name" "$listen" "$tmp/server/haproxy.pem" "$tmp/ca/ca.pem" "$app"
  done
} >"$tmp/haproxy-server.cfg"
{
  echo "$ha_global"
  for route in http:$ha_out_http:$ha_in_http iperf:$ha_out_iperf:$ha_in_iperf idle:$ha_out_idle:$ha_in_idle; do
    IFS=: read -r name listen peer <<<"$route"
    printf 'listen %s\n  bind 127.0.0.1:%s\n  server peer 127.0.0.1:%s ssl verify required ca-file %s crt %s\n' \
      "$name" "$listen" "$peer" "$tmp/ca/ca.pem" "$tmp/client/haproxy.pem"
  done
} >"$tmp/haproxy-client.cfg"
haproxy -db -f "$tmp/haproxy-server.cfg" >"$tmp/ha-server.log" 2>&1 &
ha_server=$!
pids+=($ha_server)
haproxy -db -f "$tmp/haproxy-client.cfg" >"$tmp/ha-client.log" 2>&1 &
ha_client=$!
pids+=($ha_client)

# --- stunnel pair (the second baseline) ------------------------------------------------------
# Thread per connection; the same certificates, chain verified both ways (like haproxy, no
# SPIFFE ID check), TCP_NODELAY on both sides as the proxies set it. No idle-connection run: it
# would start 2 × 9,800 threads.
st_common="foreground = yes
pid =
sslVersionMin = TLSv1.2
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
CAfile = $tmp/ca/ca.pem
verifyChain = yes"
{
  printf '%s\ncert = %s\nkey = %s\nrequireCert = yes\n' "$st_common" "$tmp/server/cert.pem" "$tmp/server/key.pem"
  printf '[http]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$st_in_http" "$app_http"
  printf '[iperf]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$st_in_iperf" "$app_iperf"
} >"$tmp/stunnel-server.conf"
{
  printf '%s\nclient = yes\ncert = %s\nkey = %s\n' "$st_common" "$tmp/client/cert.pem" "$tmp/client/key.pem"
  printf '[http]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$st_out_http" "$st_in_http"
  printf '[iperf]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$st_out_iperf" "$st_in_iperf"
} >"$tmp/stunnel-client.conf"
stunnel4 "$tmp/stunnel-server.conf" >"$tmp/st-server.log" 2>&1 &
st_server=$!
pids+=($st_server)
stunnel4 "$tmp/stunnel-client.conf" >"$tmp/st-client.log" 2>&1 &
st_client=$!
pids+=($st_client)

for port in $app_http $app_iperf $app_idle $pg_in_http $pg_out_http $ha_in_http $ha_out_http \
  $st_in_http $st_out_http; do
  wait_port "$port" "see $tmp/*.log"
done
for port in $app_http $pg_out_http $pg_out_perm $ha_out_http $st_out_http; do
  curl -sf --max-time 5 "http://127.0.0.1:$port/" >/dev/null || die "no HTTP 200 through port $port"
done
log "all paths answer; proxies: peergate $pg_client→$pg_server, haproxy $ha_client→$ha_server, stunnel $st_client→$st_server"

# --- measurements -----------------------------------------------------------------------------
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
ticks="$(getconf CLK_TCK)"

# CPU seconds (user + system) of the given pids so far.
cpu_seconds() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  awk -v t="$total" -v hz="$ticks" 'BEGIN {printf "%.2f", t / hz}'
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# record TARGET METRIC ROUND JSON [extra "key":value pairs]
record() {
  python3 -c 'import json,sys; r=json.loads(sys.argv[4]); r.update(json.loads("{"+sys.argv[5]+"}")); r.update(target=sys.argv[1], metric=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(r))' \
    "$1" "$2" "$3" "$4" "${5:-}" >>"$results"
}

proxy_pids() {
  case $1 in
    peergate*) echo "$pg_client $pg_server" ;;
    haproxy) echo "$ha_client $ha_server" ;;
    stunnel) echo "$st_client $st_server" ;;
    *) echo "" ;;
  esac
}

# run_timed TARGET METRIC ROUND COMMAND...: the command prints JSON; adds wall time and the
# proxies' CPU over it.
run_timed() {
  local target=$1 metric=$2 round=$3
  shift 3
  local -a watched
  read -r -a watched <<<"$(proxy_pids "$target")"
  local cpu0=0 cpu1=0 t0 t1 json
  [[ ${#watched[@]} -gt 0 ]] && cpu0="$(cpu_seconds "${watched[@]}")"
  t0=$EPOCHREALTIME
  json="$("$@" | tail -n 1)"
  t1=$EPOCHREALTIME
  [[ ${#watched[@]} -gt 0 ]] && cpu1="$(cpu_seconds "${watched[@]}")"
  [[ "$json" == \{* ]] || die "$target $metric: no result from $1"
  record "$target" "$metric" "$round" "$json" \
    "\"wall_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'),\"proxy_cpu_s\":$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')"
}

http_port() { case $1 in direct) echo "$app_http" ;; peergate) echo "$pg_out_http" ;; peergate-permissive) echo "$pg_out_perm" ;; haproxy) echo "$ha_out_http" ;; stunnel) echo "$st_out_http" ;; esac; }
iperf_port() { case $1 in direct) echo "$app_iperf" ;; peergate) echo "$pg_out_iperf" ;; haproxy) echo "$ha_out_iperf" ;; stunnel) echo "$st_out_iperf" ;; esac; }
idle_port() { case $1 in peergate) echo "$pg_out_idle" ;; haproxy) echo "$ha_out_idle" ;; esac; }

iperf_json() {
  iperf3 -c 127.0.0.1 -p "$1" -t "$duration" -J |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; print(json.dumps({"gbit_s": e["sum_received"]["bits_per_second"]/1e9, "retransmits": e["sum_sent"].get("retransmits", 0)}))'
}

measure_idle() {  # measure_idle TARGET ROUND
  local target=$1 round=$2 client_pid tries=0
  local -a watched
  read -r -a watched <<<"$(proxy_pids "$target")"
  local before=$(( $(rss_kib "${watched[0]}") + $(rss_kib "${watched[1]}") ))
  local before_each="$(rss_kib "${watched[0]}"),$(rss_kib "${watched[1]}")"
  "$bin/peergate_bench_idle" --port "$(idle_port "$target")" --count "$idle" --seconds 600 \
    >"$tmp/idle-$target.out" &
  client_pid=$!
  pids+=($client_pid)
  until [[ -s "$tmp/idle-$target.out" ]]; do
    ((++tries < 3000)) || die "$target: idle connections not set up within 300 s"
    sleep 0.1
  done
  sleep 1
  local held=$(( $(rss_kib "${watched[0]}") + $(rss_kib "${watched[1]}") ))
  local held_each="$(rss_kib "${watched[0]}"),$(rss_kib "${watched[1]}")"
  kill "$client_pid"
  wait "$client_pid" 2>/dev/null || true
  sleep 2
  local after=$(( $(rss_kib "${watched[0]}") + $(rss_kib "${watched[1]}") ))
  record "$target" idle "$round" "$(tail -n 1 "$tmp/idle-$target.out")" \
    "\"rss_before_kib\":$before,\"rss_held_kib\":$held,\"rss_after_close_kib\":$after,\"rss_before_each_kib\":[$before_each],\"rss_held_each_kib\":[$held_each]"
}

wanted() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }
if [[ -n "$only" ]]; then
  for part in ${only//,/ }; do
    [[ $part =~ ^(throughput|wrk|rate|connect|sniff|idle)$ ]] || die "--only: unknown part $part"
  done
fi

for ((round = 1; round <= rounds; round++)); do
  log "round $round/$rounds"
  # The machine's speed drifts within a round too: the proxies under comparison swap places
  # every round, so neither always runs last.
  if ((round % 2)); then
    targets=(direct peergate haproxy stunnel) sniffers=(peergate peergate-permissive)
  else
    targets=(direct stunnel haproxy peergate) sniffers=(peergate-permissive peergate)
  fi
  wanted throughput && for target in "${targets[@]}"; do
    log "  $target: iperf3, 1 stream, ${duration} s"
    run_timed "$target" throughput "$round" iperf_json "$(iperf_port "$target")"
  done
  wanted wrk && for conns in 1 64; do
    for target in "${targets[@]}"; do
      log "  $target: wrk, $conns connection(s), ${duration} s"
      run_timed "$target" "wrk_c$conns" "$round" wrk -t1 -c"$conns" -d"${duration}s" \
        -s bench/proxy/report.lua "http://127.0.0.1:$(http_port "$target")/"
    done
  done
  wanted rate && for target in "${targets[@]}"; do
    log "  $target: 1000 req/s for ${rate_duration} s"
    run_timed "$target" rate_1000 "$round" "$bin/peergate_bench_rate" --port "$(http_port "$target")" \
      --rate 1000 --duration "$rate_duration" --connections 8
  done
  wanted connect && for target in "${targets[@]}"; do
    log "  $target: new connections, 8 at a time, ${duration} s"
    run_timed "$target" connect_c8 "$round" "$bin/peergate_bench_connect" \
      --port "$(http_port "$target")" --concurrency 8 --duration "$duration"
  done
  # PERMISSIVE against STRICT on the same pair: the sniff happens once per connection, so it
  # shows in a connection's latency; keep-alive requests are measured too.
  wanted sniff && for target in "${sniffers[@]}"; do
    log "  $target: one connection at a time, and wrk on one connection, ${duration} s"
    run_timed "$target" connect_c1 "$round" "$bin/peergate_bench_connect" \
      --port "$(http_port "$target")" --concurrency 1 --duration "$duration"
    run_timed "$target" sniff_wrk_c1 "$round" wrk -t1 -c1 -d"${duration}s" \
      -s bench/proxy/report.lua "http://127.0.0.1:$(http_port "$target")/"
  done
done
wanted idle && for target in peergate haproxy; do
  log "$target: $idle idle connections"
  measure_idle "$target" 1
done
if [[ -n "$only" ]]; then
  python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
keys = ("gbit_s", "rps", "achieved_rps", "p50_us", "p99_us", "connections_per_s", "proxy_cpu_s")
groups = {}
for r in rows:
    groups.setdefault((r["metric"], r["target"]), []).append(r)
for (metric, target), rs in sorted(groups.items()):
    cells = [f"{k} {statistics.median(r[k] for r in rs):.4g}" for k in keys if all(k in r for r in rs)]
    print(f"{metric:<14}{target:<21}" + ", ".join(cells) + f"  (median of {len(rs)})")
EOF
  exit 0
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
# How many outbound mTLS handshakes resumed a session (absent before the counter existed).
resumed="$(curl -sf "http://127.0.0.1:$pg_admin_client/metrics" |
  awk '/^peergate_proxy_tls_resumptions_total\{direction="outbound"\}/ {print $2}' || true)"

# --- summary ----------------------------------------------------------------------------------
json_out="$out/proxy$suffix.json"
python3 bench/proxy/summarize.py "$results" "$json_out" \
  "{\"date\":\"$(date -u +%FT%TZ)\",\"commit\":\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\",\"load_before\":\"$load_before\",\"load_after\":\"$load_after\",\"cores\":$(nproc),\"rounds\":$rounds,\"duration_s\":$duration,\"rate_duration_s\":$rate_duration,\"idle_connections\":$idle,\"peergate_outbound_tls_resumptions\":${resumed:-null},\"quick\":$([[ $quick -eq 1 ]] && echo true || echo false)}"
log "wrote $json_out"
